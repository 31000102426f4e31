import CoreMetrics
import CloudBus
import Inventory
import Logging
import ServiceLifecycle
import Synchronization

/// This worker's part in the fleet: a heartbeat in the shared store every `heartbeat`, the ring rebuilt from the
/// members the store calls live, a `/cloudbus-worker/lifecycle` NodeJoin at start and NodeLeft on a graceful stop, and
/// the NodeLeft of a member silent for `timeout` — published by exactly one survivor, the one whose conditional
/// update won in the store (docs/design-fleet.md).
///
/// Runs only with a shared store; a worker on SQLite keeps the static ring of `ringNodes`. A store that does not
/// answer leaves the ring as it was (the worker keeps serving what it served) and counts the failure; the next
/// heartbeat that succeeds catches up.
public final class FleetMembership: Service, Sendable {
    public struct Settings: Sendable {
        public var heartbeat: Duration
        public var timeout: Duration

        public init(heartbeat: Duration = .seconds(5), timeout: Duration = .seconds(15)) {
            self.heartbeat = heartbeat
            self.timeout = timeout
        }
    }

    private let store: any MemberStore
    private let membership: ClusterMembership
    private let services: [String]
    private let settings: Settings
    /// Set once the bus worker exists (it is built after its event subscribers, this service's among them).
    private let workerSlot = Mutex<BusWorker?>(nil)
    private let metrics: WorkerMetrics
    private let logger: Logger

    private struct Wakeup {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let wakeup = Mutex(Wakeup())
    private let lastSuccess = Mutex<ContinuousClock.Instant?>(nil)
    /// The members as the last successful heartbeat saw them.
    private let latest = Mutex<[MemberRecord]>([])
    /// Departed workers whose queues this one drains, by node.
    private let drains = Mutex<[String: Task<Void, Never>]>([:])
    /// Opens once this worker may consume its own queues (``queuesReleased()``).
    private let gate = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(store: any MemberStore, membership: ClusterMembership, services: [String], settings: Settings,
         metrics: WorkerMetrics, logger: Logger) {
        self.store = store
        self.membership = membership
        self.services = services
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    private var node: String { membership.selfNode.rawValue }

    /// What the bus worker asks of this membership, handed to it at its init (``BusWorker/init``).
    var hooks: FleetHooks {
        FleetHooks(
            ring: membership,
            queuesReleased: { [weak self] in await self?.queuesReleased() },
            storeAnswers: { [weak self] in self?.storeAnswers ?? false })
    }

    /// The worker whose connections announce lifecycle events and drain departed workers' queues (set once, right
    /// after the worker is built from ``hooks``).
    func attach(_ worker: BusWorker) {
        workerSlot.withLock { $0 = worker }
    }

    /// Returns once no survivor drains this worker's queues any more: at once for a fresh start; after two
    /// heartbeats when the store said one was draining them (it checks every heartbeat and lets go when it sees this
    /// worker alive again).
    func queuesReleased() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = gate.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    private func openGate() {
        let waiters = gate.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    public func run() async throws {
        // Joined in the store before the event goes out: a worker that hears the NodeJoin and looks finds the row.
        let before = try? await store.members().first { $0.nodeUuid == node }
        await beat()
        if let before, before.state == .left, before.drainedBy != nil {
            // Coming back while a survivor drains our queues: the heartbeat just cleared its claim; it lets go at
            // its next check, within one heartbeat.
            logger.info("waiting for the survivor draining this worker's queues to let go",
                        metadata: ["drainedBy": "\(before.drainedBy ?? "?")"])
            try? await Task.sleep(for: settings.heartbeat * 2)
        }
        openGate()
        try? await workerSlot.withLock({ $0 })?.waitUntilReady()
        await announce(.nodeJoin, about: node)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.waitForNextBeat()
                guard !Task.isCancelled else { break }
                await self.beat()
            }
        }
        for task in drains.withLock({ Array($0.values) }) { task.cancel() }
        for task in drains.withLock({ Array($0.values) }) { await task.value }
        // A graceful stop: out of the store's live set first, then the event, while the bus worker (stopped after
        // this service) can still publish it. Survivors take over at once instead of after `timeout`.
        do {
            try await store.leave(node: node)
        } catch {
            logger.warning("could not mark this worker left in the store; survivors will after the timeout",
                           metadata: ["error": "\(error)"])
        }
        await announce(.nodeLeft, about: node)
    }

    /// Look at the store now rather than at the next heartbeat (a lifecycle event arrived).
    public func refresh() {
        let waiter = wakeup.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            state.timer?.cancel()
            state.timer = nil
            return waiter
        }
        waiter?.resume()
    }

    /// The store answered a heartbeat within the membership timeout: past it, the others have declared this worker
    /// left and given its hosts away, so it must not say it is ready.
    public var storeAnswers: Bool {
        guard let last = lastHeartbeat else { return false }
        return last.duration(to: .now) < settings.timeout
    }

    /// When the store last answered a heartbeat (nil: never). Readiness reads it.
    public var lastHeartbeat: ContinuousClock.Instant? { lastSuccess.withLock { $0 } }

    /// One heartbeat: write ours, rebuild the ring from the live members, declare the silent ones left.
    func beat() async {
        let members: [MemberRecord]
        do {
            members = try await store.heartbeat(node: node, services: services)
        } catch {
            metrics.heartbeatFailures.increment()
            logger.warning("heartbeat to the shared store failed; the ring stays as it was",
                           metadata: ["error": "\(error)"])
            return
        }
        metrics.heartbeats.increment()
        lastSuccess.withLock { $0 = .now }
        latest.withLock { $0 = members }
        let live = Set(members.filter { $0.isLive(timeout: settings.timeout) }.map(\.nodeUuid))
        if membership.replaceMembers(with: live) {
            metrics.ringChanges.increment()
            logger.info("ring changed", metadata: ["members": "\(live.sorted().joined(separator: ","))"])
        }
        for member in members where member.nodeUuid != node && member.state == .alive
            && member.heartbeatAge >= settings.timeout
        {
            do {
                guard try await store.declareLeft(node: member.nodeUuid, by: node, silentFor: settings.timeout) else {
                    continue
                }
            } catch {
                logger.warning("could not declare a silent member left", metadata: [
                    "member": "\(member.nodeUuid)", "error": "\(error)",
                ])
                continue
            }
            metrics.membersDeclaredLeft.increment()
            logger.notice("declared a silent member left", metadata: [
                "member": "\(member.nodeUuid)", "silentFor": "\(member.heartbeatAge)",
            ])
            await announce(.nodeLeft, about: member.nodeUuid, services: member.services)
        }
        await drainDeparted(members: members, live: live)
    }

    /// Claims, in the store, the draining of every departed worker nobody live drains, and drains those it won.
    private func drainDeparted(members: [MemberRecord], live: Set<String>) async {
        guard let worker = workerSlot.withLock({ $0 }) else { return }
        for member in members where member.nodeUuid != node && member.state == .left
            && drains.withLock({ $0[member.nodeUuid] == nil })
        {
            if let holder = member.drainedBy, holder != node, live.contains(holder) { continue }
            // A left member whose heartbeat is fresh is still stopping (its graceful drain): wait for the timeout.
            guard member.leftAnnouncedBy != member.nodeUuid || member.heartbeatAge >= settings.heartbeat else { continue }
            let claimed: Bool
            do {
                claimed = try await store.claimDrain(node: member.nodeUuid, by: node, live: Array(live))
            } catch {
                logger.warning("could not claim a departed worker's queues", metadata: [
                    "departed": "\(member.nodeUuid)", "error": "\(error)",
                ])
                continue
            }
            guard claimed, let departed = NodeUUID(member.nodeUuid) else { continue }
            // The snapshot was read before the claim: record it there, or the drain's first check would see no
            // claim and stop.
            latest.withLock { members in
                if let index = members.firstIndex(where: { $0.nodeUuid == member.nodeUuid }) {
                    members[index].drainedBy = node
                }
            }
            let me = node
            let task = Task {
                await worker.drainDeparted(
                    departed, services: member.services, membership: membership, checkEvery: settings.heartbeat,
                    keepGoing: { [weak self] in
                        guard let self, !Task.isCancelled else { return false }
                        let row = self.latest.withLock { $0.first { $0.nodeUuid == departed.rawValue } }
                        return row?.state == .left && row?.drainedBy == me
                    })
                self.drains.withLock { _ = $0.removeValue(forKey: departed.rawValue) }
            }
            drains.withLock { $0[member.nodeUuid] = task }
        }
    }

    private func announce(_ lifeCycle: WorkerLifeCycleData.LifeCycle, about member: String, services: [String]? = nil) async {
        let data = WorkerLifeCycleData(nodeUuid: member, lifeCycle: lifeCycle, services: services ?? self.services)
        do {
            guard let worker = workerSlot.withLock({ $0 }) else { throw BusWorker.AnnounceError.notServing }
            try await worker.announce(try .event(data, from: membership.selfNode))
            logger.info("announced", metadata: ["member": "\(member)", "lifeCycle": "\(lifeCycle.rawValue)"])
        } catch {
            // The store already says it; the event only spares the others a wait of one heartbeat.
            logger.warning("lifecycle event not published; the others learn it from the store", metadata: [
                "member": "\(member)", "lifeCycle": "\(lifeCycle.rawValue)", "error": "\(error)",
            ])
        }
    }

    /// Returns after `settings.heartbeat`, at a ``refresh()``, or when the task is cancelled.
    private func waitForNextBeat() async {
        let interval = settings.heartbeat
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = wakeup.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    state.timer = Task { [weak self] in
                        try? await Task.sleep(for: interval)
                        guard !Task.isCancelled else { return }
                        self?.refresh()
                    }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            refresh()
        }
    }
}

/// Workers' lifecycle events: a NodeJoin or NodeLeft of another worker makes this one look at the store now.
struct WorkerLifecycleSubscriber: CanonicalEventSubscriber {
    let membership: FleetMembership
    let selfNode: NodeUUID
    let logger: Logger

    var paths: Set<String> { [WorkerLifeCycleData.path] }

    func resourceKey(for event: CanonicalEvent) -> String { "fleet-membership" }

    func handle(_ event: CanonicalEvent, context: HandlerContext) async throws -> [OutboundMessage] {
        guard let data = try WorkerLifeCycleData(event), data.nodeUuid != selfNode.rawValue else { return [] }
        logger.info("worker lifecycle", metadata: ["member": "\(data.nodeUuid)", "lifeCycle": "\(data.lifeCycle.rawValue)"])
        membership.refresh()
        return []
    }
}
