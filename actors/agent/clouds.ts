/**
 * From a `[clouds.<name>]` table to a running cloud: its link, its record
 * encoder and its supervision subtree. Each cloud type adds one case here.
 */
import type { DatabaseSync } from "node:sqlite";
import type { MqttLink } from "../mqtt/link.ts";
import type { MqttConnectionOptions } from "../mqtt/connection.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import type { Spec, SupervisorSpec } from "../runtime/spec.ts";
import { readSecretFile } from "../store/secret_file.ts";
import type { Outbox } from "../telemetry/outbox.ts";
import type { AccessCheck, TunnelObserver } from "../tunnels/types.ts";
import { genericCloud, type SupportChannel } from "../generic/mod.ts";
import { c8yCloud } from "../c8y/mod.ts";
import { awsCloud, type AwsParts } from "../aws/mod.ts";
import { azureCloud, fileCredentialStorage } from "../azure/mod.ts";
import { azureCommandHandler, azurePropertyHandler } from "../azure/agent_handlers.ts";
import type { CloudConfig, Config, MqttCloudConfig } from "./config_types.ts";
import type { HandlerRegistry } from "./handlers.ts";
import type { CloudEncoder } from "./telemetry_router.ts";

/** What every cloud type gets from the agent. */
export interface CloudDeps {
  config: Config;
  /** The state database (shadow state, credentials). */
  db: DatabaseSync;
  outbox: Outbox;
  handlers: HandlerRegistry;
  /** The live supervision tree. */
  tree: () => ActorTreeNode;
  /** Stores an event for every cloud through the outbox. */
  reportEvent: (type: string, text: string, data: Record<string, unknown>) => Promise<unknown>;
  /** Asked before any remote-access tunnel opens. */
  accessCheck: AccessCheck;
  /** Told when any tunnel opens and ends (session management). */
  tunnelObserver?: TunnelObserver;
  /** The remote side of the support modules, served on every generic cloud. */
  support?: SupportChannel;
  /** Starts a child under a dynamic supervisor of the running tree (a cloud's `tunnels`). */
  startChild: (supervisorPath: string, spec: Spec) => Promise<string>;
  /** Delivers an event to the actor at `path` of the running tree, if it runs. */
  sendTo: (path: string, event: { type: string }) => void;
}

/** A running cloud as an embedding app sees it. */
export interface CloudHandle {
  /** The configured name. */
  name: string;
  /** Its MQTT link: status, publish, subscribe. */
  link: MqttLink;
  /** For an AWS cloud: its identity, shadows and telemetry gate. */
  aws?: AwsParts;
}

/** A built cloud, ready to be put in the tree. */
export interface CloudParts extends CloudHandle {
  encoder: CloudEncoder;
  spec: SupervisorSpec;
}

/** Builds the cloud `name` from its configuration. */
export async function buildCloud(
  name: string,
  cloud: CloudConfig,
  deps: CloudDeps,
): Promise<CloudParts> {
  switch (cloud.type) {
    case "mqtt": {
      const built = genericCloud({
        name,
        deviceId: deps.config.agent.deviceId,
        topicPrefix: cloud.topicPrefix,
        connection: await mqttConnectionOptions(cloud),
        outbox: deps.outbox,
        handlers: deps.handlers,
        tree: deps.tree,
        reportEvent: deps.reportEvent,
        remoteAccess: deps.config.remoteAccess,
        accessCheck: deps.accessCheck,
        tunnelObserver: deps.tunnelObserver,
        support: deps.support,
        startChild: deps.startChild,
      });
      return { name, ...built };
    }
    case "c8y": {
      // The login (<tenant>/<user>, stored or registered credentials, or none with a
      // certificate) is the c8y subtree's to decide, through the connection's hook.
      const { username: _, password: __, ...connection } = await mqttConnectionOptions(cloud);
      const built = await c8yCloud({
        name,
        config: cloud,
        connection,
        stateDir: deps.config.agent.stateDir,
        outbox: deps.outbox,
        remoteAccess: deps.config.remoteAccess,
        accessCheck: deps.accessCheck,
        tunnelObserver: deps.tunnelObserver,
        startChild: deps.startChild,
      });
      return { name, link: built.link, encoder: built.encoder, spec: built.spec };
    }
    case "aws": {
      const provisioning = cloud.provisioning.enabled ? cloud.provisioning : undefined;
      const built = await awsCloud({
        name,
        config: cloud,
        deviceId: deps.config.agent.deviceId,
        stateDir: deps.config.agent.stateDir,
        db: deps.db,
        outbox: deps.outbox,
        pems: {
          ca: await readPem(cloud.caFile),
          cert: await readPem(cloud.certFile),
          key: await readPem(cloud.keyFile),
          claimCert: await readPem(provisioning?.claimCertFile),
          claimKey: await readPem(provisioning?.claimKeyFile),
        },
      });
      return { name, link: built.link, encoder: built.encoder, spec: built.spec, aws: built };
    }
    case "azure": {
      const x509 = cloud.certFile === undefined
        ? undefined
        : { cert: (await readPem(cloud.certFile))!, key: (await readPem(cloud.keyFile))! };
      const built = await azureCloud({
        name,
        deviceId: cloud.deviceId,
        idScope: cloud.idScope,
        dpsHost: cloud.dpsHost,
        deviceKey: cloud.deviceKey,
        groupKey: cloud.groupKey,
        x509,
        ca: await readPem(cloud.caFile),
        rejectUnauthorized: !cloud.insecure,
        modelId: cloud.modelId,
        hub: cloud.hub,
        tokenTtlSec: cloud.tokenTtlSec,
        dpsRetryMs: cloud.dpsRetrySec * 1000,
        unreachableConnects: cloud.unreachableConnects,
        unreachableWindowMs: cloud.unreachableWindowSec * 1000,
        keepaliveSec: cloud.keepaliveSec,
        backoff: cloud.backoff,
        storage: fileCredentialStorage(
          `${deps.config.agent.stateDir.replace(/\/+$/, "")}/azure-${name}.credentials.json`,
        ),
        outbox: deps.outbox,
        properties: () => azurePropertyHandler(deps.handlers),
        commands: () => azureCommandHandler(deps.handlers, name),
        reconnect: () => deps.sendTo(`agent/cloud:${name}/connection`, { type: "reconnect" }),
      });
      return { name, link: built.link, encoder: built.encoder, spec: built.spec };
    }
  }
}

/** The MQTT connection fields every cloud type shares, with PEM files read. */
export async function mqttConnectionOptions(
  cloud: Pick<
    MqttCloudConfig,
    | "url"
    | "clientId"
    | "username"
    | "password"
    | "caFile"
    | "certFile"
    | "keyFile"
    | "insecure"
    | "cleanSession"
    | "keepaliveSec"
    | "backoff"
  >,
): Promise<Omit<MqttConnectionOptions, "will">> {
  return {
    url: cloud.url,
    clientId: cloud.clientId,
    username: cloud.username,
    password: cloud.password,
    ca: await readPem(cloud.caFile),
    cert: await readPem(cloud.certFile),
    key: await readPem(cloud.keyFile),
    rejectUnauthorized: !cloud.insecure,
    clean: cloud.cleanSession,
    keepaliveSec: cloud.keepaliveSec,
    backoff: cloud.backoff,
  };
}

async function readPem(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  const text = await readSecretFile(path);
  if (text === undefined) throw new Error(`Cannot read ${path}: no such file`);
  return text;
}
