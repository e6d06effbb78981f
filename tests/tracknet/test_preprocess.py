import numpy as np
import pytest

from tracknet.preprocess import decode_image, encode_jpeg, resize_frame, scale_xy, to_model_input


def test_model_input_stacks_frames_in_time_order():
    frames = np.zeros((3, 4, 5, 3), np.uint8)
    for f in range(3):
        for c in range(3):
            frames[f, :, :, c] = 10 * f + c
    x = to_model_input(frames)
    assert x.shape == (9, 4, 5) and x.dtype == np.float32
    assert [round(float(x[i, 0, 0]) * 255) for i in range(9)] == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    with pytest.raises(ValueError, match="expected frames"):
        to_model_input(np.zeros((4, 5, 3), np.uint8))


def test_resize_and_scale():
    image = np.zeros((720, 1280, 3), np.uint8)
    image[360:370, 640:650] = 255
    small = resize_frame(image, (512, 288))
    assert small.shape == (288, 512, 3)
    ys, xs = np.nonzero(small[..., 0] > 100)
    x, y = scale_xy(645.0, 365.0, (1280, 720), (512, 288))
    assert abs(xs.mean() - x) < 1 and abs(ys.mean() - y) < 1


def test_jpeg_round_trip_and_bad_bytes():
    image = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    image[:, :24] = (200, 30, 30)
    back = decode_image(encode_jpeg(image, quality=95))
    assert back.shape == image.shape
    assert np.abs(back[:, :20].astype(int) - (200, 30, 30)).mean() < 10  # RGB order kept
    with pytest.raises(ValueError, match="not a decodable"):
        decode_image(b"garbage")
