/// A value in an AMQP field table (message headers, queue arguments). Only the types this
/// project sends or reads are modelled; others decode as `.unsupported`.
public enum AMQPFieldValue: Sendable, Hashable {
    case string(String)
    case bool(Bool)
    case int32(Int32)
    case int64(Int64)
    case double(Double)
    case table([String: AMQPFieldValue])
    case array([AMQPFieldValue])
    case bytes([UInt8])
    case void
    case unsupported(kind: UInt8)

    public var stringValue: String? {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }
}

public typealias AMQPTable = [String: AMQPFieldValue]
