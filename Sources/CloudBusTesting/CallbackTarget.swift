import AgentHTTP
import Foundation

/// Where a fake agent delivers a result: the `callbackurl` header split into endpoint and path.
struct CallbackTarget: Sendable, CustomStringConvertible {
    var endpoint: AgentEndpoint
    /// Path plus query, as it must appear in the request line.
    var path: String

    /// Parses `http://host[:port]/path[?query]`; nil for anything else.
    init?(_ url: String) {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http",
            let host = components.host, !host.isEmpty
        else { return nil }
        endpoint = AgentEndpoint(host: host, port: components.port ?? 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.path = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
    }

    var description: String { endpoint.url(path: path) }
}
