import Synchronization

/// ZStack's `vmInShutdownMap` (`checkVmInShutdown`): how many syncs in a row reported a VM as going down, kept
/// for the whole worker (not per host), so a VM stuck in shutdown is announced.
///
/// For each VM of a host report: not listed in `vmInShutdowns` → its counter is dropped; listed and no counter →
/// 1; listed and counter below 10 → +1; listed at 10 → announce (`/vmTracer/vmStateInShutdown`) and drop. So the
/// event fires on the 11th consecutive report. Skipped VMs are counted too (ZStack ignores the skip set here);
/// counters of VMs that leave the host are never cleared (as in ZStack; at most one entry per VM).
public final class VmShutdownCounter: Sendable {
    /// Consecutive reports counted before the one that fires.
    public static let threshold = 10

    private let counters = Mutex<[String: Int]>([:])

    public init() {}

    /// Applies one host report; returns the VMs to announce, in uuid order.
    /// - Parameters:
    ///   - inShutdown: the report's `vmInShutdowns`.
    ///   - reported: every VM uuid of the report.
    public func observe(inShutdown: [String], reported: some Collection<String>) -> [String] {
        counters.withLock { counters in
            if inShutdown.isEmpty && counters.isEmpty { return [] }
            let listed = Set(inShutdown)
            var fire: [String] = []
            for vmUuid in reported {
                guard listed.contains(vmUuid) else {
                    counters.removeValue(forKey: vmUuid)
                    continue
                }
                switch counters[vmUuid] {
                case nil: counters[vmUuid] = 1
                case let count? where count < Self.threshold: counters[vmUuid] = count + 1
                default:
                    counters.removeValue(forKey: vmUuid)
                    fire.append(vmUuid)
                }
            }
            return fire.sorted()
        }
    }

    /// The current count of one VM (0 when none), for diagnostics and tests.
    public func count(of vmUuid: String) -> Int { counters.withLock { $0[vmUuid] ?? 0 } }
}
