import Inventory
import Testing

@Suite("Record validation rules")
struct RecordRulesTests {
    @Test(arguments: [
        "127.0.0.1", "127.20.30.40", "::1", "fe80::1", "2001:db8::10", "::ffff:127.0.0.1", "kvm-1", "kvm-1.lab.example",
        "kvm-1.lab.example.", "localhost",
    ])
    func acceptedAgentAddresses(_ address: String) {
        #expect(HostRecord(uuid: hostUuid(1), managementIp: address, status: .connected).problems().isEmpty)
    }

    @Test(arguments: [
        "", " ", "127.0.0.1 ", "127.0.0", "1.2.3.4.5", "300.1.1.1", "[::1]", "127.0.0.1:7070", "http://127.0.0.1",
        "kvm_1", "-kvm", "kvm-", "a..b", "host/path", ":::",
    ])
    func rejectedAgentAddresses(_ address: String) {
        let problems = HostRecord(uuid: hostUuid(1), managementIp: address, status: .connected).problems()
        #expect(problems.map(\.field) == ["managementIp"])
    }

    @Test(arguments: [
        "", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "0123456789ABCDEF0123456789ABCDEF",
        "01234567-89ab-cdef-0123-456789abcdef", "0123456789abcdef0123456789abcdeg", "０123456789abcdef0123456789abcde",
    ])
    func rejectedUuids(_ value: String) {
        #expect(VmRecord(uuid: value, state: .running).problems().map(\.location) == ["vm.uuid"])
    }

    @Test func validRecordsHaveNoProblemsAndDescribeTheirLocation() throws {
        #expect(VmRecord(uuid: "0123456789abcdef0123456789abcdef", state: .running).problems().isEmpty)
        let problem = try #require(host(1, port: -1).problems(index: 4).first)
        #expect(problem.description == #"hosts[4].agentPort: "-1" must be a TCP port in 1...65535"#)
    }

    @Test func stateNamesAreZStacksAndIntermediateStatesMatchTheReference() {
        #expect(VmState.allCases.count == 19)
        #expect(VmState(rawValue: "VolumeMigrating") == .volumeMigrating)
        #expect(VmState(rawValue: "NoState") == .noState)
        #expect(VmState.intermediateStates.count == 9)
        #expect(VmState.destroying.isIntermediate && !VmState.destroyed.isIntermediate)
        #expect(VmState.allCases.filter(\.releasesHost) == [.stopped, .destroyed])
    }
}
