import CRabbitMQ
import Primitives

/// Strings the broker sends with every delivery — consumer tag, exchange, routing key — taken from the last few seen
/// instead of made anew: a worker consumes a handful of queues, so each delivery would otherwise allocate two or
/// three identical strings. Owner-thread only, so without ``StringInterner``'s lock; a few entries, replaced round
/// robin.
struct RecentStrings {
    private var entries: [String] = []
    private var next = 0
    private static let capacity = 8

    mutating func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let start = bytes.bytes else { return "" }
        let raw = UnsafeRawBufferPointer(start: start, count: bytes.len)
        for entry in entries where StringInterner.spells(entry, raw) { return entry }
        let made = String(decoding: raw, as: UTF8.self)
        if entries.count < Self.capacity {
            entries.append(made)
        } else {
            entries[next] = made
            next = (next + 1) % Self.capacity
        }
        return made
    }
}
