# Orthanc + DICOMweb plugin from Debian (the same packages the integration tests run), with docker/orthanc.json.
#   docker build -f docker/orthanc.Dockerfile -t nnseg/orthanc docker
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends orthanc orthanc-dicomweb ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/orthanc/db \
 && chown -R orthanc:orthanc /var/lib/orthanc
COPY orthanc.json /etc/orthanc/orthanc.json
USER orthanc
VOLUME ["/var/lib/orthanc/db"]
EXPOSE 8042 4242
HEALTHCHECK --interval=30s --timeout=5s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8042"]
ENTRYPOINT ["/usr/sbin/Orthanc"]
CMD ["/etc/orthanc/orthanc.json"]
