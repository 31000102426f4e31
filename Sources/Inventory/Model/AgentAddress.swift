#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The accepted forms of a host's `managementIp`: an IPv4 literal, a bare IPv6 literal, or a DNS host name.
///
/// Rejects the usual operator slips (empty, whitespace, a URL, `ip:port`, a bracketed IPv6) so they fail at import
/// instead of at the first agent call.
enum AgentAddress {
    /// Why `value` cannot be used as an agent address, or nil when it can.
    static func problem(_ value: String) -> String? {
        if value.isEmpty { return "must not be empty" }
        if value.contains(where: { $0.isWhitespace || $0.isNewline }) { return "must not contain whitespace" }
        if value.contains(":") {
            return isIPv6(value)
                ? nil : "is not an IPv6 literal (write it without brackets or port; use agentPort for the port)"
        }
        if value.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            return isIPv4(value) ? nil : "is not a valid IPv4 address"
        }
        return isHostName(value) ? nil : "is neither an IP address nor a host name (letters, digits, '-' and '.')"
    }

    private static func isIPv4(_ value: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, value, &address) == 1
    }

    private static func isIPv6(_ value: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, value, &address) == 1
    }

    /// RFC 1123 host name: labels of 1-63 letters, digits or hyphens, not starting or ending with a hyphen;
    /// at most 253 characters. A single trailing dot (fully qualified) is allowed.
    private static func isHostName(_ value: String) -> Bool {
        var name = Substring(value)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
