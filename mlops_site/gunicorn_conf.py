"""gunicorn's settings for every web process: scripts/start, the container, the tests' and the
benchmarks' servers (`gunicorn -c mlops_site/gunicorn_conf.py mlops_site.wsgi`). Values come
from mlops_site.settings, so a bad variable stops the server with its name.
"""

from mlops_site import settings

bind = f"{settings.API_HOST}:{settings.API_PORT}"
workers = settings.WEB_WORKERS
worker_class = "gthread"
# More threads than requests admitted at once (ADMISSION_MAX_CONCURRENT): the spare threads
# answer 503 at once when the process is saturated, instead of requests queueing in gunicorn
# before Django sees them (mlops_site/admission.py).
threads = settings.WEB_THREADS
# Longer than any client's or proxy's idle timeout (httpx pools keep connections 5 s, load
# balancers often 60 s): with gunicorn's default of 2 s the server closed idle pooled
# connections just as clients reused them, and those requests failed with connection resets.
keepalive = 75
timeout = 120
graceful_timeout = 30
accesslog = "-"
