"""gunicorn settings module for an installed package (no conf/ folder at hand):
`gunicorn -c python:wsi_blueprint.bench.gunicorn_conf "wsi_blueprint.app:create_app()"`.
The same settings as conf/gunicorn.conf.py; gunicorn's gevent worker patches the standard
library before it loads the app."""

from wsi_blueprint.serving import gunicorn_options, prepare_metrics_dir, settings_or_exit

settings_or_exit()
prepare_metrics_dir()
globals().update(gunicorn_options())
