# syntax=docker/dockerfile:1
# One image for `aifinops serve` (the default), `aifinops gateway` and `aifinops collect`: the first argument
# picks the command (deploy/container/entrypoint.sh). Multi-stage: wheels and the virtual environment are
# built in `build`; the runtime stage gets the environment only and runs as a non-root user.
#
# Every RUN calls deploy/container/steps.sh, and deploy/container/check_image.py runs these same steps (read
# from this file) in a fresh environment where no container engine can run: keep it that way.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY deploy/container/steps.sh /usr/local/lib/aifinops/steps.sh
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN sh /usr/local/lib/aifinops/steps.sh build /src /wheels
RUN sh /usr/local/lib/aifinops/steps.sh install /wheels /opt/aifinops
RUN sh /usr/local/lib/aifinops/steps.sh datadir /var/lib/aifinops

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="aifinops" \
      org.opencontainers.image.description="AI FinOps for Azure OpenAI and Microsoft Foundry" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /opt/aifinops /opt/aifinops
COPY --from=build --chown=10001:10001 /var/lib/aifinops /var/lib/aifinops
COPY deploy/container/entrypoint.sh /usr/local/bin/aifinops-entrypoint
ENV PATH=/opt/aifinops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIFINOPS_HOST=0.0.0.0 \
    AIFINOPS_PORT=8000 \
    AIFINOPS_GATEWAY__HOST=0.0.0.0 \
    AIFINOPS_GATEWAY__PORT=8100 \
    AIFINOPS_DATABASE_URL=sqlite:////var/lib/aifinops/aifinops.db \
    AIFINOPS_GATEWAY__SPOOL_PATH=/var/lib/aifinops/gateway-spool.jsonl
USER 10001:10001
WORKDIR /var/lib/aifinops
EXPOSE 8000 8100
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/aifinops-entrypoint"]
CMD ["serve"]
