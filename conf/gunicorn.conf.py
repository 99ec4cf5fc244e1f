# gunicorn -c conf/gunicorn.conf.py wsgi:app
# Every value can be changed from the environment; see wsi_blueprint/serving.py and
# docs/configuration.md. A wrong WSI_* setting stops the server here, in one line, before any
# port is bound.
from wsi_blueprint.serving import gunicorn_options, prepare_metrics_dir, settings_or_exit

settings_or_exit()
prepare_metrics_dir()
globals().update(gunicorn_options())
