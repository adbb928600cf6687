/**
 * The `support` module of the local API: every request an app publishes
 * under `/v1.0/<clientId>/support/request/<module>/<call>` (docs/support.md),
 * checked and answered on `/v1.0/<clientId>/support/event/<module>/<event>`.
 * A bad request is answered on `…/event/<module>/error` with a code and a
 * message; it never throws out of `handle`.
 */
import {
  accessOf,
  chatIdOf,
  correlationOf,
  decodeRequestBody,
  featureOf,
  INSTANT_SUPPORT_ERRORS,
  isSupportPath,
  parseLoadMessages,
  parseRequestPath,
  parseSendMessage,
  SUPPORT_MODULES,
  type SupportCall,
  type SupportErrorCode,
  type SupportModuleName,
  SupportRequestError,
} from "../../protocols/support_api.ts";
import type { LocalApiModule, LocalApiOutput, LocalApiRequest } from "../local_api/module.ts";
import { getLogger } from "../runtime/logging.ts";
import type { SupportService } from "./service.ts";
import denoJson from "../../deno.json" with { type: "json" };

type Reply = (event: string, payload: Record<string, unknown>) => void;

const log = getLogger("support", "local");

/** The local API module that serves the support calls of `service`. */
export function supportModule(service: SupportService): LocalApiModule {
  return {
    name: "support",
    handles: isSupportPath,
    start: (output: LocalApiOutput) => service.attachOutput(output),
    async handle(request: LocalApiRequest, output: LocalApiOutput): Promise<void> {
      service.attachOutput(output);
      // Events the agent itself publishes under /support/event are not requests.
      if (request.path.startsWith("/support/event/")) return;
      await serve(service, request);
    },
  };
}

async function serve(service: SupportService, request: LocalApiRequest): Promise<void> {
  const { clientId, path } = request;
  let call: SupportCall | undefined;
  let id: string | number | undefined;
  const fail = (code: SupportErrorCode, message: string) => {
    const module = call?.module ?? moduleOfPath(path);
    log.warn("Support request {path} of {clientId} refused: {code}: {message}", {
      path,
      clientId,
      code,
      message,
    });
    service.send(clientId, module, "error", {
      ...(id === undefined ? {} : { id }),
      call: call?.call ?? path,
      code,
      message,
    });
  };
  try {
    call = parseRequestPath(path);
    const body = decodeRequestBody(request.payload);
    id = correlationOf(body);
    const reply: Reply = (event, payload) =>
      service.send(clientId, call!.module, event, id === undefined ? payload : { id, ...payload });
    await dispatch(service, clientId, call, body, reply);
  } catch (error) {
    if (error instanceof SupportRequestError) fail(error.code, error.message);
    else fail("InternalError", (error as Error).message ?? String(error));
  }
}

function moduleOfPath(path: string): SupportModuleName {
  const module = path.split("/")[3];
  return (SUPPORT_MODULES as readonly string[]).includes(module)
    ? module as SupportModuleName
    : "connection";
}

async function dispatch(
  service: SupportService,
  clientId: string,
  { module, call }: SupportCall,
  body: Record<string, unknown>,
  reply: Reply,
): Promise<void> {
  const done = () => reply("done", { call });
  switch (`${module}/${call}`) {
    case "connection/hello":
      return reply("hello", {
        version: denoJson.version,
        deviceId: service.deviceId,
        modules: SUPPORT_MODULES.filter((m) => m !== "connection"),
      });
    case "sessions/getRunningSessions":
      return reply("runningSessions", { sessions: service.sessions.list() });
    case "sessions/terminateAll":
      return reply("sessionsTerminated", { count: await service.terminateAllSessions() });
    case "accessControl/getAccess": {
      if (body.feature === undefined) return reply("access", { access: service.access.all() });
      const feature = featureOf(body);
      return reply("access", { feature, access: service.access.get(feature) });
    }
    case "accessControl/setAccess": {
      const feature = featureOf(body);
      const access = accessOf(body);
      return reply("accessSet", { feature, access, changed: service.access.set(feature, access) });
    }
    case "accessControl/acceptAccessRequest":
    case "accessControl/rejectAccessRequest": {
      const feature = featureOf(body);
      if (!service.access.answer(feature, call === "acceptAccessRequest")) {
        throw new SupportRequestError("NotFound", `No access request for ${feature} is waiting`);
      }
      return done();
    }
    case "instantSupport/requestInstantSupport":
    case "instantSupport/closeInstantSupportCase": {
      const result = call === "requestInstantSupport"
        ? await service.instant.request(clientId, body)
        : await service.instant.close(clientId);
      if (result.ok) return done();
      if ((INSTANT_SUPPORT_ERRORS as readonly string[]).includes(result.code)) {
        return reply("requestError", { code: result.code, message: result.message });
      }
      throw new SupportRequestError(result.code as SupportErrorCode, result.message);
    }
    case "instantSupport/acceptConnectionRequest":
    case "instantSupport/rejectConnectionRequest":
      if (!service.instant.answerConnection(clientId, call === "acceptConnectionRequest")) {
        throw new SupportRequestError("NotFound", "No connection request is waiting for this app");
      }
      return done();
    case "chat/obtainChats":
      return reply("chats", {
        chats: service.chats.list().map(({ cloud: _, ...chat }) => chat),
      });
    case "chat/sendMessage": {
      const message = parseSendMessage(body);
      const chat = service.chats.get(message.chatId);
      if (!chat) throw new SupportRequestError("NotFound", `Unknown chat ${message.chatId}`);
      if (chat.closed) {
        return reply("sendMessageFinished", {
          requestId: message.requestId,
          result: "Failed",
          reason: "the chat is closed",
        });
      }
      return await service.toRoom(message.chatId, {
        type: "chat.send",
        clientId,
        requestId: message.requestId,
        content: message.content,
      });
    }
    case "chat/loadMessages": {
      const { chatId, count, before } = parseLoadMessages(body);
      if (!service.chats.get(chatId)) {
        throw new SupportRequestError("NotFound", `Unknown chat ${chatId}`);
      }
      const page = service.chats.page(chatId, count, before);
      if (!page) {
        throw new SupportRequestError("NotFound", `Message ${before} is not in chat ${chatId}`);
      }
      return reply("messagesLoaded", { chatId, ...page });
    }
    case "chat/deleteHistory": {
      const chatId = chatIdOf(body);
      if (!service.chats.get(chatId)) {
        throw new SupportRequestError("NotFound", `Unknown chat ${chatId}`);
      }
      service.chats.deleteHistory(chatId);
      service.broadcast("chat", "historyDeleted", { chatId });
      return done();
    }
    case "chat/deleteChat": {
      const chatId = chatIdOf(body);
      if (!service.chats.deleteChat(chatId)) {
        throw new SupportRequestError("NotFound", `Unknown chat ${chatId}`);
      }
      await service.stopRoom(chatId);
      service.broadcast("chat", "chatsRemoved", { chatIds: [chatId] });
      return done();
    }
  }
  throw new SupportRequestError("UnknownCall", `Unknown call ${module}/${call}`);
}
