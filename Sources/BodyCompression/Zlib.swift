import CZlib

/// zlib (RFC 1950) bodies as ZStack writes them when `CloudBus.compressNonApiMessage` is on: `java.util.zip.Deflater`
/// with its defaults, marked by the AMQP header `compressed`.
public enum Zlib {
    /// Why a body could not be inflated.
    public enum InflateError: Error, Equatable, CustomStringConvertible {
        /// The inflated bytes would pass `limit`: refused as they were produced, before they were all in memory
        /// (a small body that inflates to gigabytes is a decompression bomb).
        case tooLarge(limit: Int)
        /// Not a zlib stream, a truncated one, or a corrupted one.
        case malformed(String)

        public var description: String {
            switch self {
            case .tooLarge(let limit): "inflates to more than \(limit) bytes"
            case .malformed(let reason): "not a valid zlib stream: \(reason)"
            }
        }
    }

    /// Inflates `compressed`, producing at most `limit` bytes.
    public static func inflate(_ compressed: [UInt8], limit: Int) throws(InflateError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .malformed("inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(64, compressed.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status = Z_OK
        let result: InflateError? = compressed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            repeat {
                status = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > limit { return .tooLarge(limit: limit) }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_OK, Z_STREAM_END: break
                case Z_BUF_ERROR where stream.avail_in == 0: return .malformed("truncated")
                default: return .malformed(stream.msg.map { String(cString: $0) } ?? "status \(status)")
                }
            } while status != Z_STREAM_END
            return nil
        }
        if let result { throw result }
        return output
    }

    /// Deflates `bytes` into a zlib stream (default level, as `java.util.zip.Deflater()`).
    public static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit_(&stream, Z_DEFAULT_COMPRESSION, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { preconditionFailure("deflateInit failed: out of memory") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
        let written: Int = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { buffer in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                let status = CZlib.deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate into deflateBound bytes did not finish: \(status)")
                return buffer.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }
}
