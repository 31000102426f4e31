import CRabbitMQ
import Glibc

/// Strings the broker sends with every delivery — consumer tag, exchange, routing key — taken from the last few seen
/// instead of made anew: a worker consumes a handful of queues, so each delivery would otherwise allocate two or
/// three identical strings. Owner-thread only; a few entries, replaced round robin.
struct RecentStrings {
    private var entries: [String] = []
    private var next = 0
    private static let capacity = 8

    mutating func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let start = bytes.bytes else { return "" }
        let raw = UnsafeRawBufferPointer(start: start, count: bytes.len)
        for entry in entries where Self.spells(entry, raw) { return entry }
        let made = String(decoding: raw, as: UTF8.self)
        if entries.count < Self.capacity {
            entries.append(made)
        } else {
            entries[next] = made
            next = (next + 1) % Self.capacity
        }
        return made
    }

    private static func spells(_ string: String, _ raw: UnsafeRawBufferPointer) -> Bool {
        string.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == raw.count && memcmp(utf8.baseAddress!, raw.baseAddress!, raw.count) == 0
        } ?? false
    }
}
