import AgentHTTP
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A fake kvmagent: a real HTTP server on 127.0.0.1 that speaks the agent's async protocol, so the worker is
/// tested against the behaviour of the real agent rather than against a mock.
///
/// Protocol (as kvmagent): a POST to an async path must carry `taskuuid` and `callbackurl` headers, else it is
/// answered 400 "taskUuid missing in request header". It is answered 200 with an empty body at once; the result
/// JSON is then POSTed to `callbackurl` with header `taskuuid`. A request whose `taskuuid` is still running is
/// ignored (answered 200, no second result). Unknown paths are answered 404.
///
/// Async paths are `/host/ping`, `/vm/vmsync`, `/sync/vm/deviceinfo` and any path given a behaviour. Default
/// answers:
/// - `/host/ping`: `{"success":true,"hostUuid":<hostUuid of the request>,"version":<version>,"sendCommandUrl":<url>}`
/// - `/vm/vmsync`: `{"success":true,"states":{...},"vmInShutdowns":[...]}` from ``setVMReport(_:host:)``
///   (empty by default)
/// - `/sync/vm/deviceinfo`: `{"success":true,"nicInfos":[],"virtualDeviceInfoList":[],"virtualizerInfo":{...}}`
///
/// One fake can stand for many hosts: behaviours and VM reports are scripted per path and per host uuid, where the
/// host is the request body's `hostUuid`, else its `X-Resource-UUID` header. Every request is recorded.
///
/// Lifecycle: ``start(configuration:eventLoopGroup:logger:)`` returns a running agent; ``shutdown()`` stops it,
/// closes hanging connections and cancels callbacks not yet sent.
public final class FakeKVMAgent: Sendable {
    /// Paths kvmagent serves asynchronously.
    public static let defaultAsyncPaths: Set<String> = ["/host/ping", "/vm/vmsync", "/sync/vm/deviceinfo"]

    public struct Configuration: Sendable {
        /// Default: `127.0.0.1`.
        public var host: String
        /// Default: 0 (ephemeral; read ``FakeKVMAgent/port``). kvmagent's own port is 7070.
        public var port: Int
        /// `version` in the default ping answer. Default: `4.8.0`.
        public var version: String
        /// `sendCommandUrl` in the default ping answer.
        public var sendCommandURL: String
        /// Budget for each callback POST. Default: 10 seconds.
        public var callbackTimeout: Duration
        /// How many requests ``FakeKVMAgent/receivedRequests`` keeps (the oldest are forgotten first), so a
        /// long-running simulator does not grow without bound. Default: 10 000.
        public var maxRecordedRequests: Int

        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            version: String = "4.8.0",
            sendCommandURL: String = "http://127.0.0.1:8080/zstack/asyncrest/sendcommand",
            callbackTimeout: Duration = .seconds(10),
            maxRecordedRequests: Int = 10_000
        ) {
            self.host = host
            self.port = port
            self.version = version
            self.sendCommandURL = sendCommandURL
            self.callbackTimeout = callbackTimeout
            self.maxRecordedRequests = maxRecordedRequests
        }
    }

    private struct BehaviourKey: Hashable {
        var path: String
        var hostUuid: String?
    }

    private struct HeldCallback {
        var taskUUID: String
        var target: CallbackTarget
        var body: String
        var errorHeader: String?
    }

    private struct State {
        var behaviours: [BehaviourKey: Behaviour] = [:]
        var vmReports: [String: HostVMReport] = [:]
        var requests: [RecordedRequest] = []
        var runningTasks: Set<String> = []
        var pendingCallbacks: [String: Scheduled<Void>] = [:]
        var heldCallbacks: [HeldCallback] = []
        var callbacksSent = 0
        var ignoredDuplicates = 0
        var stopped = false
    }

    public let configuration: Configuration
    /// The bound port.
    public let port: Int
    private let state: Mutex<State>
    private let client: AgentHTTPClient
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    // Set once by `start` right after binding; the listener's handler needs the agent, the agent the listener.
    private let listenerSlot = Mutex<HTTPListener?>(nil)

    /// Where the worker should send requests: `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: configuration.host, port: port) }

    private init(configuration: Configuration, port: Int, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.port = port
        self.eventLoopGroup = eventLoopGroup
        self.client = AgentHTTPClient(eventLoopGroup: eventLoopGroup)
        self.logger = logger
        self.state = Mutex(State())
    }

    /// Binds and starts serving.
    public static func start(
        configuration: Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "fake-kvm-agent")
    ) async throws -> FakeKVMAgent {
        let agentSlot = Mutex<FakeKVMAgent?>(nil)
        let listener = try await HTTPListener.bind(
            host: configuration.host, port: configuration.port, eventLoopGroup: eventLoopGroup,
            maxBodyBytes: 64 << 20
        ) { request in
            guard let agent = agentSlot.withLock({ $0 }) else {
                return .respond(status: 503, body: "kvmagent is starting")
            }
            return agent.react(to: request)
        }
        let agent = FakeKVMAgent(
            configuration: configuration, port: listener.port, eventLoopGroup: eventLoopGroup, logger: logger)
        agent.listenerSlot.withLock { $0 = listener }
        agentSlot.withLock { $0 = agent }
        return agent
    }

    /// Stops serving, closes open connections (hanging requests included) and cancels delayed callbacks.
    /// Callbacks already being sent finish or fail on their own within ``Configuration/callbackTimeout``.
    public func shutdown() async {
        let pending = state.withLock { state in
            state.stopped = true
            defer { state.pendingCallbacks = [:] }
            return Array(state.pendingCallbacks.values)
        }
        for scheduled in pending { scheduled.cancel() }
        await listenerSlot.withLock { $0 }?.close()
    }

    /// Runs a fake agent until the calling task is cancelled (for `cloudbus-worker simulate-agent`).
    public static func runSimulator(
        host: String = "127.0.0.1",
        port: Int = 7070,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws {
        let agent = try await start(
            configuration: Configuration(host: host, port: port, maxRecordedRequests: 1_000),
            eventLoopGroup: eventLoopGroup, logger: logger)
        logger.info("fake kvm agent listening", metadata: ["endpoint": "\(agent.endpoint)"])
        let listener = agent.listenerSlot.withLock { $0 }
        await withTaskCancellationHandler {
            await listener?.waitUntilClosed()
        } onCancel: {
            listener?.beginClose()
        }
        await agent.shutdown()
        logger.info("fake kvm agent stopped", metadata: ["endpoint": "\(agent.endpoint)"])
    }

    // MARK: Scripting

    /// Scripts `path` for one host (or, with `host` nil, for every host without its own script).
    public func setBehaviour(_ behaviour: Behaviour, for path: String, host hostUuid: String? = nil) {
        state.withLock { $0.behaviours[BehaviourKey(path: path, hostUuid: hostUuid)] = behaviour }
    }

    /// Sets what `/vm/vmsync` reports for one host.
    public func setVMReport(_ report: HostVMReport, host hostUuid: String) {
        state.withLock { $0.vmReports[hostUuid] = report }
    }

    /// Requests received so far (at most ``Configuration/maxRecordedRequests``), in arrival order.
    public var receivedRequests: [RecordedRequest] { state.withLock { $0.requests } }

    /// Requests received for one path, in arrival order.
    public func receivedRequests(path: String) -> [RecordedRequest] {
        state.withLock { $0.requests.filter { $0.path == path } }
    }

    /// Callback POSTs that finished (answered or failed).
    public var callbacksSent: Int { state.withLock { $0.callbacksSent } }

    /// Sends every result kept by ``Behaviour/holdCallback(json:)`` now; returns how many.
    @discardableResult
    public func releaseHeldCallbacks() -> Int {
        let held = state.withLock { state in
            defer { state.heldCallbacks = [] }
            return state.heldCallbacks
        }
        for callback in held {
            send(taskUUID: callback.taskUUID, target: callback.target, body: callback.body,
                 errorHeader: callback.errorHeader, remaining: 1)
        }
        return held.count
    }

    /// Results kept by ``Behaviour/holdCallback(json:)`` and not yet released.
    public var heldCallbackCount: Int { state.withLock { $0.heldCallbacks.count } }

    /// Requests ignored because their `taskuuid` was still running.
    public var ignoredDuplicates: Int { state.withLock { $0.ignoredDuplicates } }

    // MARK: Protocol

    private func react(to request: ReceivedHTTPRequest) -> HTTPReaction {
        let json = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
        let hostUuid = (json?["hostUuid"] as? String) ?? request.header("x-resource-uuid")
        let recorded = RecordedRequest(
            method: request.method, path: request.path, headers: request.headers,
            body: String(decoding: request.body, as: UTF8.self), hostUuid: hostUuid)

        let behaviour: Behaviour? = state.withLock { state in
            if state.requests.count >= configuration.maxRecordedRequests, !state.requests.isEmpty {
                state.requests.removeFirst()
            }
            state.requests.append(recorded)
            return state.behaviours[BehaviourKey(path: request.path, hostUuid: hostUuid)]
                ?? state.behaviours[BehaviourKey(path: request.path, hostUuid: nil)]
        }
        guard request.method == "POST", behaviour != nil || Self.defaultAsyncPaths.contains(request.path) else {
            return .respond(status: 404, body: "not found")
        }
        // Behaviours that never reach the async machinery apply whatever the headers (a stopping or wedged agent
        // does not look at them); `.httpStatus(200, json)` also serves as a sync path.
        let behaviourToRun = behaviour ?? .answer()
        switch behaviourToRun {
        case .httpStatus(let code, let text):
            let contentType = (200..<300).contains(code) ? "application/json" : "text/plain; charset=utf-8"
            return .respond(status: code, body: text, contentType: contentType)
        case .hangRequest:
            return .ignore
        case .closeConnection:
            return .closeConnection
        default:
            break
        }
        guard let taskUUID = recorded.taskUUID, !taskUUID.isEmpty else {
            return .respond(status: 400, body: "taskUuid missing in request header")
        }
        guard let callbackURL = recorded.callbackURL, let target = CallbackTarget(callbackURL) else {
            return .respond(status: 400, body: "callbackurl missing or invalid in request header")
        }

        let accepted = state.withLock { state in
            state.stopped ? false : state.runningTasks.insert(taskUUID).inserted
        }
        guard accepted else {
            state.withLock { $0.ignoredDuplicates += 1 }
            logger.debug("ignored duplicated task", metadata: ["taskuuid": "\(taskUUID)"])
            return .respond(status: 200, body: "")
        }

        let result: (body: String, errorHeader: String?)
        var delay = Duration.zero
        var times = 1
        switch behaviourToRun {
        case .answer(let text):
            result = (text ?? defaultAnswer(path: request.path, hostUuid: hostUuid, request: json), nil)
        case .fail(let error):
            result = (Self.encode(["success": false, "error": error]), nil)
        case .raise(let traceback):
            // Header values cannot span lines: like Python's str(exception), the header carries the last line.
            let lastLine = traceback.split(whereSeparator: \.isNewline).last.map(String.init) ?? traceback
            result = (traceback, lastLine)
        case .callBackAfter(let after, let text):
            result = (text ?? defaultAnswer(path: request.path, hostUuid: hostUuid, request: json), nil)
            delay = after
        case .holdCallback(let text):
            let body = text ?? defaultAnswer(path: request.path, hostUuid: hostUuid, request: json)
            state.withLock {
                $0.heldCallbacks.append(HeldCallback(taskUUID: taskUUID, target: target, body: body, errorHeader: nil))
            }
            return .respond(status: 200, body: "")
        case .callBackTwice(let text):
            result = (text ?? defaultAnswer(path: request.path, hostUuid: hostUuid, request: json), nil)
            times = 2
        case .acceptAndNeverCallBack:
            return .respond(status: 200, body: "")  // the task stays "running" for good
        case .httpStatus, .hangRequest, .closeConnection:
            preconditionFailure("answered above")
        }
        scheduleCallback(
            taskUUID: taskUUID, target: target, body: result.body, errorHeader: result.errorHeader,
            delay: delay, times: times)
        return .respond(status: 200, body: "")
    }

    private func defaultAnswer(path: String, hostUuid: String?, request: [String: Any]?) -> String {
        switch path {
        case "/host/ping":
            return Self.encode([
                "success": true, "hostUuid": hostUuid ?? NSNull(), "version": configuration.version,
                "sendCommandUrl": configuration.sendCommandURL,
            ])
        case "/vm/vmsync":
            let report = hostUuid.flatMap { host in state.withLock { $0.vmReports[host] } } ?? HostVMReport()
            return Self.encode(["success": true, "states": report.states, "vmInShutdowns": report.vmInShutdowns])
        case "/sync/vm/deviceinfo":
            var answer: [String: Any] = ["success": true, "nicInfos": [Any](), "virtualDeviceInfoList": [Any]()]
            if let vm = request?["vmInstanceUuid"] as? String {
                answer["virtualizerInfo"] = ["uuid": vm, "virtualizer": "qemu-kvm", "version": "6.2.0"]
            }
            return Self.encode(answer)
        default:
            return Self.encode(["success": true])
        }
    }

    /// Posts the result `times` times in a row (each after the previous one finished), `delay` after now.
    /// Runs on the current event loop when there is one (always, from the request handler), so a zero delay still
    /// registers the scheduled callback before it can fire.
    private func scheduleCallback(
        taskUUID: String, target: CallbackTarget, body: String, errorHeader: String?, delay: Duration, times: Int
    ) {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? eventLoopGroup.next()
        let scheduled = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
            let stopped = state.withLock { state in
                state.pendingCallbacks.removeValue(forKey: taskUUID)
                return state.stopped
            }
            guard !stopped else { return }
            send(taskUUID: taskUUID, target: target, body: body, errorHeader: errorHeader, remaining: times)
        }
        state.withLock { $0.pendingCallbacks[taskUUID] = scheduled }
    }

    private func send(taskUUID: String, target: CallbackTarget, body: String, errorHeader: String?, remaining: Int) {
        var headers = ["taskuuid": taskUUID]
        if let errorHeader { headers["error"] = errorHeader }
        client.postFuture(
            to: target.endpoint, path: target.path, headers: headers, body: Data(body.utf8),
            connectTimeout: .seconds(5), timeout: configuration.callbackTimeout
        ).whenComplete { [self] result in
            let stopped = state.withLock { state in
                state.callbacksSent += 1
                if remaining <= 1 { state.runningTasks.remove(taskUUID) }
                return state.stopped
            }
            switch result {
            case .success(let response) where !response.isSuccess:
                logger.warning(
                    "callback answered with HTTP \(response.status)",
                    metadata: ["taskuuid": "\(taskUUID)", "callbackurl": "\(target)"])
            case .failure(let error):
                logger.warning(
                    "callback failed: \(error)", metadata: ["taskuuid": "\(taskUUID)", "callbackurl": "\(target)"])
            case .success:
                break
            }
            if remaining > 1, !stopped {
                send(taskUUID: taskUUID, target: target, body: body, errorHeader: errorHeader, remaining: remaining - 1)
            }
        }
    }

    private static func encode(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return #"{"success":false,"error":"fake agent could not encode its answer"}"#
        }
        return String(decoding: data, as: UTF8.self)
    }
}
