import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import Logging
import Primitives
import ServiceLifecycle
import Worker

/// A real worker in this process, on the real broker, with its own node UUID, data directory
/// and ephemeral HTTP port — so suites run side by side without sharing queues — plus an RPC
/// client that talks to it the way a management node would.
final class WorkerHarness: Sendable {
    let runtime: WorkerRuntime
    let client: RPCClient
    let clientConnection: AMQPConnection
    let node: NodeUUID
    let dataDirectory: String
    private let serviceTask: Task<Void, any Error>
    private let group: ServiceGroup

    var worker: BusWorker { runtime.worker }
    var metrics: WorkerMetrics { runtime.worker.metrics }
    var inventory: any InventoryBackend { runtime.inventory }
    var hostQueue: String { ServiceID(service: ServiceID.hostService, node: node).queueName }
    var hostService: String { "\(ServiceID.hostService).\(node.rawValue)" }

    /// `logCapture` also receives what the worker logs (it is printed either way).
    static func start(node: NodeUUID = .random(), maxBodyBytes: Int = 64 * 1024, logCapture: LogCapture? = nil,
                      configure: (inout WorkerConfiguration) -> Void = { _ in },
                      extraHandlers: @escaping (inout HandlerTable) -> Void = { _ in }) async throws -> WorkerHarness {
        var configuration = WorkerConfiguration()
        configuration.amqp = try TestBroker.configuration()
        configuration.nodeUUID = node.rawValue
        configuration.dataDirectory = NSTemporaryDirectory() + "cbw-test-\(node.rawValue)"
        configuration.httpPort = 0
        configuration.adminPort = 0
        configuration.services = [ServiceID.hostService, ServiceID.vmInstanceService]
        configuration.durableQueues = false
        configuration.maxBodyBytes = maxBodyBytes
        configuration.prefetch = 64
        configuration.kvm.pingTimeoutSeconds = 1
        configuration.kvm.pingSleepAfterFailureSeconds = 0.05
        configuration.kvm.agentConnectTimeoutSeconds = 1
        configure(&configuration)
        var logger = if let logCapture {
            Logger(label: "test-worker") { label in
                MultiplexLogHandler([StreamLogHandler.standardOutput(label: label), logCapture.handler])
            }
        } else {
            Logger(label: "test-worker")
        }
        logger.logLevel = .warning
        let runtime = try await WorkerRuntime.start(configuration: configuration, logger: logger, extraHandlers: extraHandlers)
        let group = ServiceGroup(configuration: .init(services: runtime.services, logger: logger))
        let serviceTask = Task { try await group.run() }
        try await runtime.worker.waitUntilReady()
        let clientConnection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 1000, logger: logger)
        try await clientConnection.start()
        let client = RPCClient(connection: clientConnection)
        try await client.start()
        return WorkerHarness(runtime: runtime, client: client, clientConnection: clientConnection, node: node,
                             dataDirectory: configuration.dataDirectory, group: group, serviceTask: serviceTask)
    }

    private init(runtime: WorkerRuntime, client: RPCClient, clientConnection: AMQPConnection, node: NodeUUID,
                 dataDirectory: String, group: ServiceGroup, serviceTask: Task<Void, any Error>) {
        self.runtime = runtime
        self.client = client
        self.clientConnection = clientConnection
        self.node = node
        self.dataDirectory = dataDirectory
        self.group = group
        self.serviceTask = serviceTask
    }

    /// Graceful stop (as SIGTERM would), then the client. The worker's event queue goes too: nobody reads it once
    /// the worker is gone (a restart with the same node declares it again), and left behind it would collect every
    /// broadcast event of later tests and runs. Its service queues stay, for tests that restart the node.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await serviceTask.value
        await client.close()
        await clientConnection.close()
        try? TestBroker.deleteQueues([BusTopology.eventQueue(node: node)])
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    /// Sends `{"<class>": fields}` to this worker's host service and waits for the reply.
    func call(_ className: String, _ fields: [String: JSONValue] = [:], timeout: Duration = .seconds(10),
              service: String? = nil) async throws -> RPCReply {
        let body = try JSONValue.object([className: .object(fields)]).jsonData()
        return try await client.call(envelope: body, to: .service(service ?? hostService), timeout: timeout)
    }

    /// Publishes raw bytes to this worker's host queue (confirmed), no reply awaited.
    func sendRaw(_ bytes: Data, queue: String? = nil) async throws {
        _ = try await client.send(raw: bytes, to: .queue(queue ?? hostQueue))
    }
}

/// Runs `body` against a worker started as
/// ``WorkerHarness/start(node:maxBodyBytes:logCapture:configure:extraHandlers:)`` does, and stops it gracefully on
/// every exit path, a failed `#require` or a thrown error included: a test never leaves a worker consuming beside the
/// suites that run after it.
func withWorker<T>(
    node: NodeUUID = .random(), maxBodyBytes: Int = 64 * 1024, logCapture: LogCapture? = nil,
    configure: (inout WorkerConfiguration) -> Void = { _ in },
    extraHandlers: @escaping (inout HandlerTable) -> Void = { _ in },
    _ body: (WorkerHarness) async throws -> T
) async throws -> T {
    let harness = try await WorkerHarness.start(
        node: node, maxBodyBytes: maxBodyBytes, logCapture: logCapture, configure: configure,
        extraHandlers: extraHandlers)
    return try await withTeardown({ await harness.stop() }) { try await body(harness) }
}
