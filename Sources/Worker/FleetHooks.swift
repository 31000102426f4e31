import CloudBus

/// What a fleet member's ``BusWorker`` needs from its membership, given at init so nothing is bound late: the live
/// ring (requests for resources another worker owns are forwarded), a gate awaited before consuming (a worker coming
/// back waits until the survivor draining its queues let go of them), and whether the shared store answers
/// (readiness says `shared store unavailable` when it does not).
struct FleetHooks: Sendable {
    let ring: ClusterMembership
    let queuesReleased: @Sendable () async -> Void
    let storeAnswers: @Sendable () -> Bool
}
