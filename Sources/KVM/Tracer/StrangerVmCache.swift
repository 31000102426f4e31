import Synchronization

/// Which host each stranger VM (a uuid the inventory does not know) was last reported by, so
/// `/vmTracer/strangerVmFound` fires once per (VM, host) rather than on every sync.
///
/// ZStack keeps a static access-ordered LRU map of 1,500 entries shared by all hosts (and not thread-safe); this
/// one is the same map behind a lock, shared by every host's sync of the worker. When full, the least recently
/// reported stranger is forgotten, so it fires again if it shows up later.
public final class StrangerVmCache: Sendable {
    /// ZStack's capacity.
    public static let defaultCapacity = 1_500

    private struct Node {
        var vmUuid: String
        var hostUuid: String
        var newer: Int?
        var older: Int?
    }

    /// An LRU list threaded through an array (indexes, no per-entry allocation after warm-up).
    private struct LRU {
        var capacity: Int
        var index: [String: Int] = [:]
        var nodes: [Node] = []
        var newest: Int?
        var oldest: Int?

        mutating func unlink(_ slot: Int) {
            let node = nodes[slot]
            if let newer = node.newer { nodes[newer].older = node.older } else { newest = node.older }
            if let older = node.older { nodes[older].newer = node.newer } else { oldest = node.newer }
            nodes[slot].newer = nil
            nodes[slot].older = nil
        }

        mutating func pushNewest(_ slot: Int) {
            nodes[slot].older = newest
            nodes[slot].newer = nil
            if let newest { nodes[newest].newer = slot }
            newest = slot
            if oldest == nil { oldest = slot }
        }

        /// Records (vm, host); returns true when this pair was not the cached one.
        mutating func report(vmUuid: String, hostUuid: String) -> Bool {
            if let slot = index[vmUuid] {
                unlink(slot)
                pushNewest(slot)
                if nodes[slot].hostUuid == hostUuid { return false }
                nodes[slot].hostUuid = hostUuid
                return true
            }
            let slot: Int
            if nodes.count < capacity {
                slot = nodes.count
                nodes.append(Node(vmUuid: vmUuid, hostUuid: hostUuid))
            } else {
                slot = oldest!  // capacity >= 1, so a full list has an oldest entry
                unlink(slot)
                index[nodes[slot].vmUuid] = nil
                nodes[slot].vmUuid = vmUuid
                nodes[slot].hostUuid = hostUuid
            }
            index[vmUuid] = slot
            pushNewest(slot)
            return true
        }
    }

    private let lru: Mutex<LRU>

    /// - Parameter capacity: entries kept (at least 1). Default: 1,500.
    public init(capacity: Int = StrangerVmCache.defaultCapacity) {
        lru = Mutex(LRU(capacity: max(1, capacity)))
    }

    /// Notes that `hostUuid` reported stranger `vmUuid`; true when the event should fire (the VM was not cached,
    /// or was cached for another host). Either way the entry becomes the most recent.
    public func shouldAnnounce(vmUuid: String, onHost hostUuid: String) -> Bool {
        lru.withLock { $0.report(vmUuid: vmUuid, hostUuid: hostUuid) }
    }

    /// How many strangers are remembered.
    public var count: Int { lru.withLock { $0.index.count } }
}
