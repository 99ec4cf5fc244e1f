# gunicorn -c conf/gunicorn.conf.py wsgi:app
# Every value can be changed from the environment; see wsi_blueprint/serving.py and
# docs/configuration.md.
from wsi_blueprint.serving import gunicorn_options, prepare_metrics_dir

prepare_metrics_dir()
globals().update(gunicorn_options())
