/// What the skip registry remembers so an open tracer round can ask "was this VM skipped when the round began?"
/// without copying the registry: for every change made while a round is open, the VM's state *before* the change.
///
/// The state of VM `v` at mark `m` is the before-state of `v`'s first change after `m`, or its current state when
/// it has not changed since. Only changes newer than the oldest open round are kept; with no open round nothing is
/// recorded. Lookups cost one dictionary access plus a scan of that VM's few changes.
///
/// Bounded: when more than `capacity` changes are kept (a round that never ended), the oldest open rounds are
/// abandoned until the log fits; a query for an abandoned mark sees only what the log still holds.
struct TraceRoundLog: Sendable {
    private struct Change: Sendable {
        let sequence: UInt64
        let before: VmSkipState
    }

    let capacity: Int
    private var openRounds: [UInt64: Int] = [:]
    private var history: [String: [Change]] = [:]
    /// Changes in sequence order, for trimming; entries before `head` are already trimmed.
    private var order: [(sequence: UInt64, vmUuid: String)] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var isRecording: Bool { !openRounds.isEmpty }
    var openRoundCount: Int { openRounds.values.reduce(0, +) }
    var keptChanges: Int { order.count - head }

    mutating func open(at sequence: UInt64) {
        openRounds[sequence, default: 0] += 1
    }

    /// Ends one round opened at `sequence` (an unknown or already abandoned round is ignored).
    mutating func close(at sequence: UInt64) {
        guard let count = openRounds[sequence] else { return }
        if count > 1 { openRounds[sequence] = count - 1 } else { openRounds.removeValue(forKey: sequence) }
        trim()
    }

    /// Records `vmUuid`'s state before change `sequence`. Returns how many rounds had to be abandoned to stay
    /// within `capacity` (0 normally).
    mutating func record(_ sequence: UInt64, vmUuid: String, before: VmSkipState) -> Int {
        guard isRecording else { return 0 }
        history[vmUuid, default: []].append(Change(sequence: sequence, before: before))
        order.append((sequence, vmUuid))
        var abandoned = 0
        while keptChanges > capacity, let oldest = openRounds.keys.min() {
            abandoned += openRounds.removeValue(forKey: oldest) ?? 0
            trim()
        }
        return abandoned
    }

    /// `vmUuid`'s state just after mark `sequence`, or nil when it has not changed since (its current state is
    /// then its state at the mark).
    func state(of vmUuid: String, atMark sequence: UInt64) -> VmSkipState? {
        history[vmUuid]?.first { $0.sequence > sequence }?.before
    }

    private mutating func trim() {
        guard let floor = openRounds.keys.min() else {
            history.removeAll(keepingCapacity: true)
            order.removeAll(keepingCapacity: true)
            head = 0
            return
        }
        while head < order.count, order[head].sequence <= floor {
            let vmUuid = order[head].vmUuid
            if var changes = history[vmUuid] {
                changes.removeFirst()
                history[vmUuid] = changes.isEmpty ? nil : changes
            }
            head += 1
        }
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
