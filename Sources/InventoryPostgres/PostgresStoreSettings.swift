import Foundation
import Inventory

/// Where a shared store lives and how to reach it: what `store.url` (`postgres://user@host:port/db`) and the
/// password (config file `store.password`, `CLOUDBUS_STORE_PASSWORD`; never a flag) say.
///
/// A password inside the URL is refused rather than accepted: URLs end up in logs, process lists and error
/// messages, and the store's ``location`` (what every error and log line shows) must never carry it.
public struct PostgresStoreSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP: for a database on loopback or a private link.
        case disable
        /// TLS with the server's certificate verified against the system roots and its host name.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// How long one store operation (a query, or a transaction with its queries) may take before it fails with
    /// ``InventoryError/storage(operation:path:reason:)``: a database that went away is an error, never a hang.
    public var operationTimeout: Duration
    /// Connections the pool may open (each worker of a fleet has its own pool).
    public var maximumConnections: Int
    /// The schema the store's tables live in (`search_path`), or nil for the database's default (`public`):
    /// lets one database hold several independent stores (a staging fleet beside production, each test its own).
    public var schema: String?

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
                tls: TLSMode = .disable, operationTimeout: Duration = .seconds(10), maximumConnections: Int = 8,
                schema: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.operationTimeout = operationTimeout
        self.maximumConnections = maximumConnections
        self.schema = schema
    }

    /// Reads `postgres://user@host[:port]/database[?sslmode=disable|require][&schema=name]` (also `postgresql://`).
    ///
    /// - Throws: ``InventoryError/storage(operation:path:reason:)`` naming what is wrong (never echoing a password).
    public init(url text: String, password: String?) throws(InventoryError) {
        func refuse(_ reason: String) -> InventoryError {
            .storage(operation: "parse store URL", path: nil, reason: reason)
        }
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw refuse("a store URL looks like postgres://user@host:port/database (got something else)")
        }
        guard components.password == nil else {
            throw refuse("the store URL must not carry a password: give it as store.password in the config file or "
                         + "CLOUDBUS_STORE_PASSWORD")
        }
        guard let host = components.host, !host.isEmpty else { throw refuse("the store URL names no host") }
        guard let user = components.user, !user.isEmpty else {
            throw refuse("the store URL names no user (postgres://user@host/database)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw refuse("the store URL names no database (postgres://user@host/database)")
        }
        if let port = components.port, !(1...65535).contains(port) { throw refuse("port \(port) is not 1...65535") }
        var tls = TLSMode.disable
        var schema: String?
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", let value?):
                guard let mode = TLSMode(rawValue: value) else {
                    throw refuse("sslmode=\(value) is not one of disable, require")
                }
                tls = mode
            case ("schema", let value?):
                guard Self.isPlainIdentifier(value) else {
                    throw refuse("schema=\(value) is not a plain identifier (lowercase letters, digits, _)")
                }
                schema = value
            default:
                throw refuse("unknown store URL parameter \(item.name) (known: sslmode, schema)")
            }
        }
        self.init(host: host, port: components.port ?? 5432, username: user, password: password,
                  database: database, tls: tls, schema: schema)
    }

    /// Lowercase letters, digits and `_`, not starting with a digit, at most 63 bytes: a name PostgreSQL takes
    /// as written, so it never needs quoting.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              name.utf8.count <= 63 else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }

    /// The URL without any secret: what logs and errors show.
    public var location: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        var parameters: [String] = []
        if tls != .disable { parameters.append("sslmode=\(tls.rawValue)") }
        if let schema { parameters.append("schema=\(schema)") }
        return "postgres://\(username)@\(shownHost):\(port)/\(database)"
            + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }
}
