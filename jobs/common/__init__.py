"""Shared job plumbing: config loading, storage URIs, parquet schemas, Ray start-up."""
