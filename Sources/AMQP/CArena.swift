import CRabbitMQ
import Glibc

/// Keeps C copies of Swift strings and tables alive for the duration of one rabbitmq-c call.
/// rabbitmq-c copies what it sends into its own frame buffer, so everything is released right after.
///
/// A bump allocator: copies go into one block kept from call to call (a publish used to cost two mallocs per
/// string — the `utf8CString` array and the C copy — about ten per reply); what does not fit gets a block of its
/// own, freed at ``reset()``. Owner-thread only.
final class CArena {
    /// Bytes of the block kept across calls: a reply's exchange, routing key, ids and headers fit many times.
    private static let blockSize = 8192
    private let block: UnsafeMutableRawPointer
    // Unchecked exclusivity: owner-thread only (above), and every copy would otherwise pay a dynamic access check.
    @exclusivity(unchecked) private var used = 0
    /// Blocks for what did not fit in `block`, freed at reset.
    @exclusivity(unchecked) private var overflow: [UnsafeMutableRawPointer] = []

    init() {
        block = UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: 16)
    }

    deinit {
        reset()
        block.deallocate()
    }

    func reset() {
        used = 0
        for pointer in overflow { free(pointer) }
        overflow.removeAll(keepingCapacity: true)
    }

    /// `count` bytes aligned to 8 (enough for every rabbitmq-c struct), valid until ``reset()``.
    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let start = (used + 7) & ~7
        if start + count <= Self.blockSize {
            used = start + count
            return block + start
        }
        let memory = malloc(max(count, 1))!
        overflow.append(memory)
        return memory
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        // In place when contiguous (native strings are): a copy into a `var` for `withUTF8` retains and releases
        // the string's storage, three times per publish (exchange, routing key, message id).
        if let copied = string.utf8.withContiguousStorageIfAvailable({ bytes($0) }) { return copied }
        var string = string
        return string.withUTF8 { bytes($0) }
    }

    private func bytes(_ utf8: UnsafeBufferPointer<UInt8>) -> amqp_bytes_t {
        guard let base = utf8.baseAddress, !utf8.isEmpty else { return amqp_empty_bytes }
        return copy(UnsafeRawPointer(base), count: utf8.count)
    }

    func bytes(_ array: [UInt8]) -> amqp_bytes_t {
        array.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, !raw.isEmpty else { return amqp_empty_bytes }
            return copy(base, count: raw.count)
        }
    }

    private func copy(_ source: UnsafeRawPointer, count: Int) -> amqp_bytes_t {
        guard count > 0 else { return amqp_empty_bytes }
        let memory = allocate(count)
        memcpy(memory, source, count)
        return amqp_bytes_t(len: count, bytes: memory)
    }

    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_empty_table }
        let raw = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.count)
        let entries = raw.bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        for (index, (key, value)) in table.sorted(by: { $0.key < $1.key }).enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: fieldValue(value))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    private func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let s):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(s)
        case .bytes(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = bytes(b)
        case .bool(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = b ? 1 : 0
        case .int32(let i):
            field.kind = UInt8(AMQP_FIELD_KIND_I32.rawValue)
            field.value.i32 = i
        case .int64(let i):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = i
        case .double(let d):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = d
        case .table(let t):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(t)
        case .array(let items):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let raw = allocate(MemoryLayout<amqp_field_value_t>.stride * max(items.count, 1))
            let values = raw.bindMemory(to: amqp_field_value_t.self, capacity: max(items.count, 1))
            for (index, item) in items.enumerated() { values[index] = fieldValue(item) }
            field.value.array = amqp_array_t(num_entries: Int32(items.count), entries: values)
        case .void, .unsupported:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }
}

extension amqp_bytes_t {
    /// Copies the bytes out of rabbitmq-c's buffers (which are recycled after each frame batch).
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }

    @_spi(RawSession) public var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }
}

extension amqp_table_t {
    var swiftTable: AMQPTable {
        var result: AMQPTable = [:]
        guard num_entries > 0, let entries else { return result }
        for index in 0..<Int(num_entries) {
            result[entries[index].key.string] = entries[index].value.swiftValue
        }
        return result
    }
}

extension amqp_field_value_t {
    var swiftValue: AMQPFieldValue {
        switch UInt32(kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue: return .string(value.bytes.string)
        case AMQP_FIELD_KIND_BYTES.rawValue: return .bytes(value.bytes.array)
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int32(Int32(value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: return .int32(Int32(value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: return .int32(Int32(value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: return .int32(Int32(value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: return .int32(value.i32)
        case AMQP_FIELD_KIND_U32.rawValue: return .int64(Int64(value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: return .int64(value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return .int64(Int64(bitPattern: value.u64))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .int64(Int64(bitPattern: value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: return .double(Double(value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: return .double(value.f64)
        case AMQP_FIELD_KIND_TABLE.rawValue: return .table(value.table.swiftTable)
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            var items: [AMQPFieldValue] = []
            if value.array.num_entries > 0, let entries = value.array.entries {
                for index in 0..<Int(value.array.num_entries) { items.append(entries[index].swiftValue) }
            }
            return .array(items)
        case AMQP_FIELD_KIND_VOID.rawValue: return .void
        default: return .unsupported(kind: kind)
        }
    }
}
