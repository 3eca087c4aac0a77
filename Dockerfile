# cellwise image: web (gunicorn) and worker (manage.py worker) share it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 CELLWISE_VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
# torch from the CPU index first, so nothing pulls the CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python manage.py collectstatic --noinput -v0
EXPOSE 8060
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py bootstrap && gunicorn mlops_site.wsgi --bind ${API_HOST:-0.0.0.0}:${API_PORT:-8060} --workers 3 --threads 4"]
