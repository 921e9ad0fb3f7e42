# One image for every worker; the command picks the worker: python -m services.<name>
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN pip install --no-cache-dir "uv>=0.9"
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY schemas ./schemas
COPY shared ./shared
COPY services ./services
COPY creditflow ./creditflow
RUN uv sync --frozen --no-dev
USER 65534:65534
EXPOSE 8080
CMD ["python", "-m", "services.wallet"]
