# Rasa and the action server (Python 3.10), with the trained model (run `make rasa-train`
# before building: models/kefu.tar.gz is copied in).
FROM python:3.10-slim
WORKDIR /srv/kefu
COPY requirements-rasa.txt .
RUN pip install --no-cache-dir -r requirements-rasa.txt
COPY . .
EXPOSE 5005 5055
