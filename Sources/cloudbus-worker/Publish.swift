import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Foundation
import Inventory
import Logging
import Primitives
import Worker

/// How people and tests drive the worker: send one message, wait for the reply, print it.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a {\"<class>\": {…}} message from a file (or - for stdin) and print the reply.",
        discussion: """
            Destination: --service S --node N (queue zstack.message.S.N), --queue Q, or --resource UUID with \
            --nodes a,b,… (the owner is picked with ZStack's consistent-hash ring, service from --service, default host).
            With --event the file is a canonical event ({"org.zstack.core.cloudbus.CanonicalEvent": {path, content, \
            managementNodeId, …}}), broadcast on BROADCAST as a management node fires it (skip-trace, continue-trace, \
            node lifecycle, global-config updates); no reply is awaited.
            Exit status: 0 reply success (or event confirmed), 1 reply with an error, 2 no reply (timeout, nobody \
            consuming), 3 not a valid message.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Message file, or - for stdin.")
    var file: String = "-"

    @Option(help: "Service name, e.g. host or vmInstance.")
    var service: String?

    @Option(help: "Node UUID of the worker serving --service.")
    var node: String?

    @Option(help: "Full queue name to publish to instead.")
    var queue: String?

    @Option(help: "Resource UUID: route to the node owning it on the ring of --nodes (default: the live workers of the shared store, else ringNodes).")
    var resource: String?

    @Option(help: "Comma-separated node UUIDs of the ring (env CLOUDBUS_RING_NODES).")
    var nodes: String?

    @Option(help: "Seconds to wait for the reply (also the message's timeout).")
    var timeout: Double = 30

    @Flag(help: "Publish (confirmed) and exit without waiting for a reply.")
    var noWait = false

    @Flag(help: "Broadcast the file as a canonical event on BROADCAST (no destination, no reply).")
    var event = false

    @Option(name: .customLong("repeat"), help: "Send the message N times (each with a fresh id), report how many succeeded.")
    var count: Int = 1

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        let body: Data
        if file == "-" {
            body = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            body = data
        }
        if event { return try await broadcast(body, configuration: configuration) }
        let destination = try destination(ringNodes: try await ringMembers(configuration))
        let amqp = AMQPConnection(configuration: configuration.amqp, prefetch: 1000)
        do { try await amqp.start() } catch {
            FileHandle.standardError.write(Data("cloudbus-worker publish: \(error)\n".utf8))
            throw ExitStatus.noReply
        }
        let client = RPCClient(connection: amqp)
        try await client.start()
        defer { Task { await amqp.close() } }
        if noWait {
            let outcome = try await client.send(raw: body, to: destination)
            print("published: \(outcome)")
            await amqp.close()
            return
        }
        var failures = 0
        var missing = 0
        for _ in 0..<max(1, count) {
            do {
                var fresh = body
                if count > 1 { fresh = try Self.withoutId(body) }
                let reply = try await client.call(envelope: fresh, to: destination, timeout: .seconds(timeout))
                if count == 1 { print(String(decoding: reply.raw, as: UTF8.self)) }
                if !reply.success { failures += 1 }
            } catch {
                FileHandle.standardError.write(Data("cloudbus-worker publish: \(error)\n".utf8))
                missing += 1
            }
        }
        if count > 1 { print("sent \(count): \(count - failures - missing) succeeded, \(failures) failed, \(missing) unanswered") }
        await amqp.close()
        if missing > 0 { throw ExitStatus.noReply }
        if failures > 0 { throw ExitStatus.replyFailed }
    }

    /// Checks that `body` is a canonical event the worker would accept, then broadcasts it (confirmed).
    private func broadcast(_ body: Data, configuration: WorkerConfiguration) async throws {
        do {
            let decoded = try EnvelopeCodec.decode(body, registry: MessageCatalogue.all)
            guard decoded.typed(as: CanonicalEvent.self) != nil else {
                FileHandle.standardError.write(Data(
                    "cloudbus-worker publish: --event needs a \(CanonicalEvent.className), not \(decoded.className)\n".utf8))
                throw ExitStatus.invalidMessage
            }
        } catch let error as EnvelopeError {
            FileHandle.standardError.write(Data("cloudbus-worker publish: not a valid event: \(error)\n".utf8))
            throw ExitStatus.invalidMessage
        }
        let amqp = AMQPConnection(configuration: configuration.amqp, prefetch: 1)
        do { try await amqp.start() } catch {
            FileHandle.standardError.write(Data("cloudbus-worker publish: \(error)\n".utf8))
            throw ExitStatus.noReply
        }
        let outcome = try await BusPublisher(connection: amqp).publishEvent(body: body)
        print("broadcast: \(outcome)")
        await amqp.close()
    }

    /// The ring `--resource` is resolved on: `--nodes`, else the live workers of the shared store (what every worker
    /// of the fleet builds its ring from), else `ringNodes`.
    private func ringMembers(_ configuration: WorkerConfiguration) async throws -> [String] {
        guard resource != nil, nodes == nil, configuration.store != nil else { return configuration.ringNodes }
        let store = try await WorkerStoreOpener.open(configuration, owner: "publish",
                                                     logger: Logger(label: "cloudbus-worker.publish"))
        do {
            let members = try await store.members()
            await store.close()
            return members.filter { $0.isLive(timeout: configuration.membership.timeout) }.map(\.nodeUuid)
        } catch {
            await store.close()
            throw ValidationError("cannot read the fleet's members from \(store.location): \(error)")
        }
    }

    private func destination(ringNodes: [String]) throws -> RPCClient.Destination {
        if let queue { return .queue(queue) }
        if let resource {
            let members = nodes.map { $0.split(separator: ",").map(String.init) } ?? ringNodes
            guard !members.isEmpty else {
                throw ValidationError("--resource needs --nodes, CLOUDBUS_RING_NODES, or a shared store with live workers")
            }
            let ring = ConsistentHashRing(nodes: members)
            guard let owner = ring.owner(of: resource) else { throw ValidationError("empty ring") }
            return .service("\(service ?? ServiceID.hostService).\(owner)")
        }
        guard let service, let node else {
            throw ValidationError("give --service and --node, or --queue, or --resource with --nodes")
        }
        return .service("\(service).\(node)")
    }

    /// Drops `id` so the client stamps a fresh one per repetition.
    static func withoutId(_ body: Data) throws -> Data {
        guard case .object(let outer) = try JSONValue(parsing: body), let (name, inner) = outer.first,
              case .object(var fields) = inner else { return body }
        fields["id"] = nil
        if case .object(var headers) = fields["headers"] ?? .null {
            headers["correlationId"] = nil
            fields["headers"] = .object(headers)
        }
        return try JSONValue.object([name: .object(fields)]).jsonData()
    }
}
