"""Standalone entry point: `gunicorn -c conf/gunicorn.conf.py wsgi:app`.

gevent patches the standard library first, before anything imports ssl, urllib3 or botocore,
so that every socket wait in requests, botocore and pymemcache yields to other requests.
"""

from gevent import monkey

monkey.patch_all()

from wsi_blueprint.app import create_app  # noqa: E402

app = create_app()
