"""One thin entry point per `mer` command: each module has ``run(args)`` (and optionally
``add_arguments(parser)``); mer.cli maps the command names to them, and dvc.yaml's stages call
the pipeline's ones (synthesize, data, faces, features, train, evaluate, register)."""
