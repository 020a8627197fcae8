# mcp-orch: `orch` built in release on Swift's Ubuntu 24.04 image, run on plain Ubuntu 24.04 as a
# user without privileges. See README, "Deployment".
#
#   docker build -t mcp-orch .
#   docker run --rm -p 8080:8080 -v "$PWD/orch.json:/etc/orch/orch.json:ro" mcp-orch
#
# The build context keeps .git (see .dockerignore) so that `orch --version` names the commit; a
# context without it builds an orch whose commit is "unknown".

FROM swift:6.3-noble AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libjansson-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies first: a change to the sources does not fetch them again.
COPY Package.* ./
RUN swift package resolve
COPY . .
# The Swift runtime and Foundation are linked in: the image below needs only jansson and OpenSSL.
RUN swift build -c release --static-swift-stdlib --product orch \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/orch" /out/orch

FROM ubuntu:24.04
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libjansson4 libssl3t64 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/orch \
        --shell /usr/sbin/nologin orch
COPY --from=build /out/orch /usr/local/bin/orch
# stdio MCP servers get the gateway's HOME (npx and uvx keep their caches there).
ENV HOME=/home/orch
USER 10001:10001
WORKDIR /home/orch
EXPOSE 8080
ENTRYPOINT ["orch"]
CMD ["serve", "/etc/orch/orch.json", "--listen", "0.0.0.0:8080"]
