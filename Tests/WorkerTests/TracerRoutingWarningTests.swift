import CloudBus
import Testing
import Worker

@Suite("Start-up warning: tracer verdicts without vmInstance workers")
struct TracerRoutingWarningTests {
    private func configuration(services: [String], tracerOn: Bool = true) -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.services = services
        configuration.kvm.vmTracerOn = tracerOn
        return configuration
    }

    @Test("warned: host served, vmInstance not, tracer on")
    func warned() {
        #expect(WorkerRuntime.tracerVerdictsMayBeUnroutable(configuration(services: [ServiceID.hostService])))
    }

    @Test("not warned: vmInstance served too, tracer off, or no host service")
    func notWarned() {
        #expect(!WorkerRuntime.tracerVerdictsMayBeUnroutable(
            configuration(services: [ServiceID.hostService, ServiceID.vmInstanceService])))
        #expect(!WorkerRuntime.tracerVerdictsMayBeUnroutable(
            configuration(services: [ServiceID.hostService], tracerOn: false)))
        #expect(!WorkerRuntime.tracerVerdictsMayBeUnroutable(configuration(services: ["storage.primary"])))
    }
}
