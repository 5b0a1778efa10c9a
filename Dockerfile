FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir .
RUN useradd --create-home stratus && mkdir -p /app/var && chown stratus /app/var
USER stratus
EXPOSE 8000
