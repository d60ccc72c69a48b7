# The service (Python 3.11): `kefu serve`, one worker per container.
FROM python:3.11-slim
WORKDIR /srv/kefu
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
COPY . .
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -e '.[postgres]'
EXPOSE 8000
