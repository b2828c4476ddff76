import Foundation
import TestSupport
import Uploads
import XCTest

/// An independent client: tuspy (the wheel scripts/fetch-test-data pins, run by Debian's python3 with
/// python3-requests and python3-aiohttp) uploads a 20 MiB file in 1 MiB chunks with sha1 checksums.
final class TuspyConformanceTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testTuspyUploadsTwentyMebibytesInChunksWithChecksums() async throws {
        let tuspy = try Self.tuspy()
        let server = try await TusTestServer()
        do {
            let data = randomBytes(20 << 20)
            let source = server.directory + "/source.bin"
            XCTAssertTrue(FileManager.default.createFile(atPath: source, contents: Data(data)))
            let script = """
                import sys
                from tusclient import client
                c = client.TusClient(sys.argv[1], headers={"Authorization": "Bearer kiosk-7"})
                u = c.uploader(sys.argv[2], chunk_size=1 << 20, upload_checksum=True,
                               metadata={"filename": "study.zip"})
                u.upload()
                print(u.url)
                """
            let (status, output) = try runProgram("/usr/bin/python3", ["-c", script, server.baseURL, source],
                                           environment: ["PYTHONPATH": tuspy])
            XCTAssertEqual(status, 0, output)
            let url = try XCTUnwrap(output.split(separator: "\n").last, output)
            let id = String(try XCTUnwrap(url.split(separator: "/").last))

            let head = try await server.send(.HEAD, id, owner: "kiosk-7")
            XCTAssertEqual(head.header("Upload-Offset"), String(data.count))
            XCTAssertEqual(head.header("Upload-Metadata"), "filename c3R1ZHkuemlw")
            XCTAssertEqual(server.completed.withLock { $0.map(\.id.rawValue) }, [id])
            let readBack = try await server.readBack(id, owner: "kiosk-7", length: data.count)
            XCTAssertEqual(sha256Hex(readBack), sha256Hex(data))
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    /// The unpacked tuspy wheel, fetched by scripts/fetch-test-data when missing; a skip says why it is unavailable.
    static func tuspy() throws -> String {
        let testdata = ProcessInfo.processInfo.environment["KIOSK_TESTDATA"]
            ?? repository.appendingPathComponent(".cache/testdata").path
        let unpacked = testdata + "/tuspy"
        if !FileManager.default.fileExists(atPath: unpacked + "/tuspy-1.1.0.dist-info") {
            let (status, output) = try runProgram(repository.appendingPathComponent("scripts/fetch-test-data").path, [])
            guard status == 0 else { throw XCTSkip("tuspy could not be fetched from PyPI: \(output)") }
        }
        let (status, output) = try runProgram("/usr/bin/python3", ["-c", "import requests, aiohttp, tusclient.client"],
                                       environment: ["PYTHONPATH": unpacked])
        guard status == 0 else {
            throw XCTSkip("tuspy does not import (install python3-requests and python3-aiohttp: scripts/install-deps): \(output)")
        }
        return unpacked
    }
}

/// Runs a program to its end; returns its exit status and its output and error output together.
func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    let result = try TestSupport.run(program, arguments, environment: environment, check: false)
    return (result.status, result.stdoutText + result.stderrText)
}
