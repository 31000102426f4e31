import AgentHTTP
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A fake ZBS MDS agent (`zbsagent.py`): a real HTTP server on 127.0.0.1 speaking the agent's protocol, so ZBS
/// calls are tested against the behaviour of the real agent.
///
/// Protocol: paths live under `/zbs/primarystorage`. `/echo` and `/volume/clients` are sync (the result is the
/// response body); every other path is async: the POST must carry `taskuuid` and `callbackurl` (else 400
/// "taskUuid missing in request header"), is answered 200 at once, and the result is POSTed to `callbackurl` with
/// header `taskuuid`. Results carry `success` and `error`.
///
/// Scripting: ``script(_:for:)`` queues behaviours consumed one per request to a path (per call), then
/// ``setBehaviour(_:for:)`` applies, then the default answer. Default answers (`<pp>` from
/// ``Configuration/physicalPools``, else `pp`):
/// - `/echo` `{}`; `/volume/clients` `{"success":true,"clients":[{"ip":…,"port":…}]}` from ``setClients(_:for:)``;
/// - `/volume/create` `installPath` `cbd:<pp>/<logicalPool>/<volume>`, `size` as requested, `actualSize` 0;
/// - `/volume/expand` `size` as requested; `/volume/query` `size` 1 GiB, `actualSize` 0;
/// - `/snapshot/create` `installPath` `<path>@<snapshot>`; `/snapshot/rollback` `installPath` the volume path;
/// - `/capacity` one `logicalPoolInfos` entry per requested pool (capacity 100 GiB, usedSize 10 GiB);
/// - anything else `{"success":true}`.
/// Every request is recorded (with its relative path) before it is answered.
public final class FakeMDSAgent: Sendable {
    /// Prefix of every MDS agent path.
    public static let rootPath = "/zbs/primarystorage"
    /// Paths the agent answers in the response body.
    public static let syncPaths: Set<String> = ["/echo", "/volume/clients"]

    public struct Configuration: Sendable {
        /// Default: 0 (ephemeral; read ``FakeMDSAgent/port``).
        public var port: Int
        /// Logical pool to physical pool, for default install paths. Default: empty (`pp`).
        public var physicalPools: [String: String]
        /// Budget for each callback POST. Default: 10 seconds.
        public var callbackTimeout: Duration

        public init(port: Int = 0, physicalPools: [String: String] = [:], callbackTimeout: Duration = .seconds(10)) {
            self.port = port
            self.physicalPools = physicalPools
            self.callbackTimeout = callbackTimeout
        }
    }

    /// A client holding a volume open, as `/volume/clients` lists it.
    public struct Client: Sendable, Equatable {
        public var ip: String
        public var port: Int

        public init(ip: String, port: Int = 0) {
            self.ip = ip
            self.port = port
        }
    }

    private struct State {
        var scripts: [String: [Behaviour]] = [:]
        var behaviours: [String: Behaviour] = [:]
        var clients: [String: [Client]] = [:]
        var requests: [RecordedRequest] = []
        var pending: [String: Scheduled<Void>] = [:]
        var callbacksSent = 0
        var stopped = false
    }

    public let configuration: Configuration
    /// The bound port.
    public let port: Int
    private let state = Mutex(State())
    private let client: AgentHTTPClient
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let listenerSlot = Mutex<HTTPListener?>(nil)

    /// `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }

    private init(configuration: Configuration, port: Int, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.port = port
        self.eventLoopGroup = eventLoopGroup
        self.client = AgentHTTPClient(eventLoopGroup: eventLoopGroup)
        self.logger = logger
    }

    /// Binds 127.0.0.1 and starts serving.
    public static func start(
        configuration: Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "fake-mds-agent")
    ) async throws -> FakeMDSAgent {
        let agentSlot = Mutex<FakeMDSAgent?>(nil)
        let listener = try await HTTPListener.bind(
            host: "127.0.0.1", port: configuration.port, eventLoopGroup: eventLoopGroup, maxBodyBytes: 16 << 20
        ) { request in
            guard let agent = agentSlot.withLock({ $0 }) else {
                return .respond(status: 503, body: "zbs agent is starting")
            }
            return agent.react(to: request)
        }
        let agent = FakeMDSAgent(
            configuration: configuration, port: listener.port, eventLoopGroup: eventLoopGroup, logger: logger)
        agent.listenerSlot.withLock { $0 = listener }
        agentSlot.withLock { $0 = agent }
        return agent
    }

    /// Stops serving, closes open connections (hanging requests included) and cancels delayed callbacks.
    public func shutdown() async {
        let pending = state.withLock { state in
            state.stopped = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for scheduled in pending { scheduled.cancel() }
        await listenerSlot.withLock { $0 }?.close()
    }

    // MARK: Scripting

    /// Queues behaviours for the next requests to `path` (relative, e.g. `/volume/create`), one per request.
    public func script(_ behaviours: [Behaviour], for path: String) {
        state.withLock { $0.scripts[path, default: []] += behaviours }
    }

    /// The behaviour for `path` once its script is used up (nil: the default answer).
    public func setBehaviour(_ behaviour: Behaviour?, for path: String) {
        state.withLock { $0.behaviours[path] = behaviour }
    }

    /// What `/volume/clients` lists for a volume (keyed by the request's `path`, in agent `cbd:` form).
    public func setClients(_ clients: [Client], for volumePath: String) {
        state.withLock { $0.clients[volumePath] = clients }
    }

    /// Requests received so far (the last 5,000 to 10,000 once more arrived), in arrival order.
    public var receivedRequests: [RecordedRequest] { state.withLock { $0.requests } }

    /// Requests received for one relative path, in arrival order.
    public func receivedRequests(path: String) -> [RecordedRequest] {
        state.withLock { $0.requests.filter { $0.path == path } }
    }

    /// Callback POSTs that finished (answered or failed).
    public var callbacksSent: Int { state.withLock { $0.callbacksSent } }

    // MARK: Protocol

    private func react(to request: ReceivedHTTPRequest) -> HTTPReaction {
        guard request.path.hasPrefix(Self.rootPath) else { return .respond(status: 404, body: "not found") }
        let path = String(request.path.dropFirst(Self.rootPath.count))
        let recorded = RecordedRequest(
            path: path, headers: request.headers, body: String(decoding: request.body, as: UTF8.self))
        let behaviour: Behaviour = state.withLock { state in
            // Bounded like the fake KVM agent's: a soak sends hundreds of thousands; tests read a few.
            if state.requests.count >= 10_000 { state.requests.removeFirst(5_000) }
            state.requests.append(recorded)
            if var queue = state.scripts[path], !queue.isEmpty {
                let next = queue.removeFirst()
                state.scripts[path] = queue
                return next
            }
            return state.behaviours[path] ?? .answer()
        }
        guard request.method == "POST" else { return .respond(status: 405, body: "POST only") }
        let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]

        switch behaviour {
        case .httpStatus(let code, let text):
            return .respond(status: code, body: text)
        case .closeConnection:
            return .closeConnection
        default:
            break
        }
        if Self.syncPaths.contains(path) {
            if request.header("taskuuid") != nil {
                return .respond(status: 400, body: "taskuuid on a sync path \(path)")
            }
            switch behaviour {
            case .answer(let text), .callBackTwice(let text):
                let body = text ?? defaultAnswer(path: path, request: json)
                return .respond(status: 200, body: body, contentType: "application/json")
            case .fail(let error):
                return .respond(
                    status: 200, body: Self.encode(["success": false, "error": error]), contentType: "application/json")
            case .garbage(let text):
                return .respond(status: 200, body: text, contentType: "application/json")
            case .neverAnswer, .answerAfter:
                return .ignore
            case .httpStatus, .closeConnection:
                preconditionFailure("answered above")
            }
        }
        guard let taskUUID = recorded.taskUUID, !taskUUID.isEmpty else {
            return .respond(status: 400, body: "taskUuid missing in request header")
        }
        guard let callbackURL = request.header("callbackurl"), let target = CallbackTarget(callbackURL) else {
            return .respond(status: 400, body: "callbackurl missing or invalid in request header")
        }
        let body: String
        var delay = Duration.zero
        var times = 1
        switch behaviour {
        case .answer(let text):
            body = text ?? defaultAnswer(path: path, request: json)
        case .fail(let error):
            body = Self.encode(["success": false, "error": error])
        case .garbage(let text):
            body = text
        case .neverAnswer:
            return .respond(status: 200, body: "")
        case .answerAfter(let after, let text):
            body = text ?? defaultAnswer(path: path, request: json)
            delay = after
        case .callBackTwice(let text):
            body = text ?? defaultAnswer(path: path, request: json)
            times = 2
        case .httpStatus, .closeConnection:
            preconditionFailure("answered above")
        }
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? eventLoopGroup.next()
        let callbacks = times
        // Scheduled on this request's event loop, so it cannot fire before it is registered below.
        let scheduled = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
            let stopped = state.withLock { state in
                state.pending.removeValue(forKey: taskUUID)
                return state.stopped
            }
            guard !stopped else { return }
            send(taskUUID: taskUUID, target: target, body: body, remaining: callbacks)
        }
        state.withLock { $0.pending[taskUUID] = scheduled }
        return .respond(status: 200, body: "")
    }

    private func send(taskUUID: String, target: CallbackTarget, body: String, remaining: Int) {
        client.postFuture(
            to: target.endpoint, path: target.path, headers: ["taskuuid": taskUUID], body: Data(body.utf8),
            connectTimeout: .seconds(5), timeout: configuration.callbackTimeout
        ).whenComplete { [self] result in
            let stopped = state.withLock { state in
                state.callbacksSent += 1
                return state.stopped
            }
            if case .failure(let error) = result {
                logger.debug("callback failed: \(error)", metadata: ["taskuuid": "\(taskUUID)"])
            }
            if remaining > 1, !stopped {
                send(taskUUID: taskUUID, target: target, body: body, remaining: remaining - 1)
            }
        }
    }

    private func defaultAnswer(path: String, request: [String: Any]?) -> String {
        let volumePath = request?["path"] as? String
        switch path {
        case "/echo":
            return "{}"
        case "/volume/clients":
            let clients = volumePath.flatMap { key in state.withLock { $0.clients[key] } } ?? []
            return Self.encode(["success": true, "clients": clients.map { ["ip": $0.ip, "port": $0.port] }])
        case "/volume/create":
            let pool = request?["logicalPool"] as? String ?? "lp"
            let volume = request?["volume"] as? String ?? "volume"
            let physical = configuration.physicalPools[pool] ?? "pp"
            return Self.encode([
                "success": true, "installPath": "cbd:\(physical)/\(pool)/\(volume)",
                "size": request?["size"] ?? 0, "actualSize": 0,
            ])
        case "/volume/expand":
            return Self.encode(["success": true, "size": request?["size"] ?? 0])
        case "/volume/query":
            return Self.encode(["success": true, "size": 1 << 30, "actualSize": 0])
        case "/snapshot/create":
            let snapshot = request?["snapshot"] as? String ?? "snapshot"
            return Self.encode([
                "success": true, "installPath": "\(volumePath ?? "")@\(snapshot)", "size": 1 << 30, "actualSize": 0,
            ])
        case "/snapshot/rollback":
            let volume = volumePath.map { String($0.split(separator: "@", maxSplits: 1)[0]) } ?? ""
            return Self.encode(["success": true, "installPath": volume, "size": 1 << 30, "actualSize": 0])
        case "/capacity":
            let pools = request?["logicalPoolNames"] as? [String] ?? []
            return Self.encode([
                "success": true,
                "logicalPoolInfos": pools.map { pool in
                    [
                        "logicalPoolName": pool, "physicalPoolName": configuration.physicalPools[pool] ?? "pp",
                        "capacity": 100 << 30, "usedSize": 10 << 30,
                    ] as [String: Any]
                },
            ])
        default:
            return Self.encode(["success": true])
        }
    }

    private static func encode(_ object: [String: Any]) -> String {
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return #"{"success":false,"error":"fake MDS could not encode its answer"}"# }
        return String(decoding: data, as: UTF8.self)
    }
}
