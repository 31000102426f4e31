import AgentHTTP
import CloudBus
import Foundation
import Inventory
import Logging
import Metrics
import NIOCore
import Primitives

/// The one way every ZBS operation reaches an MDS: ZStack's `ZbsStorageController.HttpCaller` with its rules made
/// explicit, plus a failure memory.
///
/// Algorithm, per call:
/// 1. Candidates: the storage's **Connected** MDS (a snapshot: later updates do not affect this call), in a fresh
///    order from ``MdsShuffle``, then reordered by ``MdsFailureMemory`` (MDS that just failed go last). None
///    Connected: ``MdsCallError/noConnectedMds(primaryStorageUuid:)`` at once, no HTTP. A pinned call
///    (``MdsCallOptions/targetAddr``) has exactly that MDS as candidate, or fails with
///    ``MdsCallError/mdsNotFound(addr:primaryStorageUuid:)``; it never tries another.
/// 2. Each candidate is tried at most once, no second pass, no backoff, no hidden inner retries. Every request
///    carries `uuid` (the storage uuid) and `addr` (the contacted MDS) on top of the command.
/// 3. Each attempt has its own connect timeout and whole deadline (``MdsCallOptions/attemptTimeout``, cut to the
///    caller's deadline); waiting for a per-MDS slot (``MdsSlots``) counts against it.
/// 4. Outcomes:
///    - a readable answer with `success` true (or absent) and no `error`: returned;
///    - `success=false` (or an `error` text): **final**, even with try-next (the operation ran and failed; another
///      MDS would run it again) — ``MdsCallError/agentFailed(addr:path:message:earlier:)`` carrying the agent's
///      text verbatim (ZStack's sync path retries here, its async path does not; this picks the async rule and
///      keeps every cause);
///    - transport failure (refused, reset, connect timeout, non-2xx, invalid HTTP, answer or callback not a JSON
///      object, a callback flagged as a raised handler, no slot in time): recorded, next MDS, whatever try-next
///      says (ZStack: HTTP_ERROR/IO_ERROR/INTERNAL);
///    - the attempt deadline passed: next MDS with try-next, else final
///      (``MdsCallError/attemptTimedOut(_:earlier:)``, SYS.1001);
///    - candidates exhausted: ``MdsCallError/allFailed(path:attempts:)`` ("all MDS cannot execute http
///      call[<path>]") with one cause per attempt, in attempt order, each naming its MDS.
/// 5. Transport failures and deadlines are remembered by ``MdsFailureMemory``; readable answers clear the memory.
///    MDS statuses are never changed.
///
/// Completes exactly once: late answers and second callbacks are dropped by the callback server. Cancelling the
/// calling task cancels the attempt in flight and throws `CancellationError`. Thread-safe; calls are independent.
///
/// Counted (``ZBSMetrics``): every attempt that ends, by MDS and outcome (a cancelled attempt is not counted),
/// and every move to the next candidate after a failed attempt (a failover).
public struct MdsCaller: Sendable {
    public let caller: AgentCaller
    public let settings: MdsCallSettings
    public let memory: MdsFailureMemory
    public let slots: MdsSlots
    public let shuffle: MdsShuffle
    /// Where the agent of an MDS listens; default ``endpoint(of:)`` (addr and agent port).
    public let endpointOf: @Sendable (MdsRecord) -> AgentEndpoint
    /// The MDS handles (``ZBSMetrics``), shared by copies of this caller.
    let metrics: MdsCallMetrics
    private let logger: Logger

    public init(
        caller: AgentCaller,
        settings: MdsCallSettings = MdsCallSettings(),
        memory: MdsFailureMemory = MdsFailureMemory(window: .seconds(60)),
        slots: MdsSlots? = nil,
        shuffle: MdsShuffle = .system,
        endpointOf: @escaping @Sendable (MdsRecord) -> AgentEndpoint = MdsCaller.endpoint(of:),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger = Logger(label: "cloudbus.zbs.mds")
    ) {
        self.endpointOf = endpointOf
        self.metrics = MdsCallMetrics(factory: metrics)
        self.caller = caller
        self.settings = settings
        self.memory = memory
        self.slots = slots ?? MdsSlots(limit: settings.concurrencyPerMds, eventLoopGroup: caller.client.eventLoopGroup)
        self.shuffle = shuffle
        self.logger = logger
    }

    /// The agent endpoint of `mds`.
    public static func endpoint(of mds: MdsRecord) -> AgentEndpoint {
        AgentEndpoint(host: mds.addr, port: mds.agentPort)
    }

    /// The order in which a call with `options` would try the MDS of `storage` (step 1 above).
    /// - Throws: ``MdsCallError`` `noConnectedMds` or `mdsNotFound`.
    public func candidates(
        of storage: ZbsPrimaryStorageRecord, options: MdsCallOptions
    ) throws(MdsCallError) -> [MdsRecord] {
        let connected = storage.mds.filter { $0.status == .connected }
        if let target = options.targetAddr {
            // `addr`, or `addr:port` when several MDS share an address.
            guard let node = connected.first(where: { $0.addr == target || "\($0.addr):\($0.agentPort)" == target })
            else {
                throw .mdsNotFound(addr: target, primaryStorageUuid: storage.uuid)
            }
            return [node]
        }
        guard !connected.isEmpty else { throw .noConnectedMds(primaryStorageUuid: storage.uuid) }
        return memory.order(shuffle.apply(connected), endpoint: endpointOf)
    }

    /// Calls `options.path` on the MDS of `storage` with `command` (a JSON object; `uuid` and `addr` are set here).
    ///
    /// - Throws: ``MdsCallError`` (see the type's algorithm), or `CancellationError`.
    public func call(
        _ storage: ZbsPrimaryStorageRecord, command: [String: JSONValue], options: MdsCallOptions
    ) async throws -> MdsAnswer {
        let candidates = try candidates(of: storage, options: options)
        let path = settings.urlRootPath + options.path
        var failures: [MdsAttemptFailure] = []
        for node in candidates {
            var budget = options.attemptTimeout ?? settings.attemptTimeout
            if let deadline = options.deadline {
                budget = min(budget, ContinuousClock.now.duration(to: deadline))
                guard budget > .zero else { throw MdsCallError.deadlineReached(path: path, attempts: failures) }
            }
            if !failures.isEmpty { metrics.failovers.increment() }
            var request = command
            request["uuid"] = .string(storage.uuid)
            request["addr"] = .string(node.addr)
            let outcome = try await attempt(node, path: path, body: request, budget: budget, sync: options.sync)
            metrics.attempt(on: node, outcome.metricOutcome)
            switch outcome {
            case .answered(let body):
                if !failures.isEmpty {
                    logger.info("MDS call succeeded after failed attempts", metadata: [
                        "path": "\(path)", "mds": "\(node.addr)", "failedAttempts": "\(failures.count)"])
                }
                return MdsAnswer(addr: node.addr, body: body, failedAttempts: failures)
            case .agentFailed(let message):
                throw MdsCallError.agentFailed(addr: node.addr, path: path, message: message, earlier: failures)
            case .local(let reason):
                throw MdsCallError.local(path: path, reason: reason)
            case .failed(let failure):
                logger.warning("MDS attempt failed", metadata: [
                    "path": "\(path)", "mds": "\(node.addr)", "storage": "\(storage.uuid)", "error": "\(failure)"])
                if case .deadline = failure.cause, !options.tryNext {
                    throw MdsCallError.attemptTimedOut(failure, earlier: failures)
                }
                failures.append(failure)
            }
        }
        throw MdsCallError.allFailed(path: path, attempts: failures)
    }

    private enum Outcome {
        case answered([String: JSONValue])
        case agentFailed(String)
        case failed(MdsAttemptFailure)
        case local(String)

        /// The `outcome` label this attempt is counted under.
        var metricOutcome: ZBSMetrics.MdsCallOutcome {
            switch self {
            case .answered: .ok
            case .agentFailed: .agentFailed
            case .local: .local
            case .failed(let failure):
                switch failure.cause {
                case .transport(.connectionRefused): .refused
                case .transport(.connectTimeout), .deadline: .timeout
                case .transport: .error
                case .unparsable: .badResponse
                case .noSlot: .noSlot
                }
            }
        }
    }

    /// One attempt on one MDS within `budget` (slot wait included).
    private func attempt(
        _ node: MdsRecord, path: String, body: [String: JSONValue], budget: Duration, sync: Bool
    ) async throws -> Outcome {
        let endpoint = endpointOf(node)
        func failure(_ cause: MdsAttemptFailure.Cause) -> Outcome {
            .failed(MdsAttemptFailure(addr: node.addr, endpoint: endpoint, path: path, cause: cause))
        }
        let deadline = NIODeadline.now() + TimeAmount(budget)
        guard await slots.acquire(endpoint, deadline: deadline) else {
            try Task.checkCancellation()
            return failure(.noSlot(inUse: slots.inUse(endpoint)))
        }
        defer { slots.release(endpoint) }
        let remaining = Duration(deadline - NIODeadline.now())
        guard remaining > .zero else {
            return failure(.deadline(.deadlineExceeded(endpoint: endpoint, path: path, timeout: budget)))
        }
        let data: Data
        do {
            let payload = try JSONValue.object(body).jsonData()
            let connectTimeout = min(settings.connectTimeout, remaining)
            data = sync
                ? try await caller.callSync(
                    endpoint, path: path, body: payload, timeout: remaining, connectTimeout: connectTimeout)
                : try await caller.callAsync(
                    endpoint, path: path, body: payload, timeout: remaining, connectTimeout: connectTimeout)
        } catch let error as AgentHTTPError {
            // A cancelled call may surface as a transport failure (its connection closed under it).
            try Task.checkCancellation()
            switch error {
            case .agentFailure(_, _, let message):
                // A callback carrying a traceback (`error` header) or a body that is not a JSON object: no
                // readable result, which ZStack classifies as INTERNAL, a transport-class error: next MDS.
                memory.recordFailure(endpoint)
                return failure(.unparsable(message))
            case .callbackServerUnavailable:
                return .local("the worker's callback server is not running")
            case .deadlineExceeded(_, _, _), .noCallback:
                memory.recordFailure(endpoint)
                return failure(.deadline(Self.reportingBudget(error, budget: budget)))
            default:
                memory.recordFailure(endpoint)
                return failure(.transport(error))
            }
        }
        guard let parsed = try? JSONValue(parsing: data), case .object(let object) = parsed else {
            memory.recordFailure(endpoint)
            let text = String(decoding: data.prefix(200), as: UTF8.self)
            return failure(.unparsable(data.count > 200 ? text + "…" : text))
        }
        memory.recordSuccess(endpoint)
        let error = object["error"]?.stringValue
        let success = object["success"]?.boolValue ?? (error == nil)
        if !success || error != nil {
            return .agentFailed(error ?? "the agent answered success=false without an error")
        }
        return .answered(object)
    }

    /// Deadline errors name the attempt's whole budget (slot wait included), not what was left for HTTP.
    private static func reportingBudget(_ error: AgentHTTPError, budget: Duration) -> AgentHTTPError {
        switch error {
        case .deadlineExceeded(let endpoint, let path, _):
            .deadlineExceeded(endpoint: endpoint, path: path, timeout: budget)
        case .noCallback(let endpoint, let path, let task, _):
            .noCallback(endpoint: endpoint, path: path, taskUUID: task, timeout: budget)
        default:
            error
        }
    }
}
