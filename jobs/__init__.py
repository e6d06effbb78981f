"""Ray jobs: featurize, train, infer, evaluate, serve. Each module's docstring shows its command."""
