import Foundation
import LocoTestSupport
import Testing

/// The ARM64 NEON kernels of CKernels, checked on any Linux machine: `scripts/test-neon.sh`
/// cross-compiles the C kernels with a test driver (Tests/CKernelsNEON/driver.c) for aarch64 and
/// runs it under qemu-aarch64 on a CPU with the dot product instructions and one without (on an
/// ARM64 machine, natively). The driver compares every NEON variant with the scalar code and with
/// the committed ggml fixtures. Exit status 77 means the tools could not be installed: the test
/// then passes and prints why it did not check anything.
@Suite struct NEONKernelTests {
    @Test func neonKernelsMatchTheScalarCodeUnderQEMU() throws {
        let result = try run("/bin/bash", [Repository.path("scripts/test-neon.sh")])
        let output = result.stdoutText + result.stderr
        switch result.status {
        case 0:
            let summaries = output.split(separator: "\n").filter { $0.hasSuffix(" failed") || $0.hasPrefix("==") }
            print("test-neon.sh:", summaries.joined(separator: "; "))
        case 77:
            let reason = output.split(separator: "\n").first { $0.hasPrefix("SKIP:") } ?? "SKIP: (no reason given)"
            print("NEON kernels not checked:", reason)
        default:
            Issue.record("scripts/test-neon.sh exited with \(result.status):\n\(output)")
        }
    }
}
