// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "encours",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "encours", targets: ["EncoursCLI"]),
        .executable(name: "encours-worker", targets: ["EncoursWorkerCLI"]),
        .executable(name: "encours-bench", targets: ["EncoursBench"]),
        .library(name: "EncoursPostgres", targets: ["EncoursPostgres"]),
        .library(name: "EncoursQueue", targets: ["EncoursQueue"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // libpq, the PostgreSQL C client library (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // A Swift wrapper over libpq; knows nothing of jobs.
        .target(
            name: "EncoursPostgres",
            dependencies: ["CLibPQ"]
        ),
        // The numbered SQL migrations of sql/migrations, embedded in the binaries.
        .target(
            name: "EncoursMigrations",
            dependencies: ["EncoursPostgres"],
            plugins: ["EmbedMigrations"]
        ),
        // Build-time generator: turns every sql/migrations/*.sql file into Swift source.
        .executableTarget(name: "EmbedMigrationsTool"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"]
        ),
        // The PostgreSQL job queue: enqueue, claim, leases, retries, fairness, the worker service.
        .target(
            name: "EncoursQueue",
            dependencies: [
                "EncoursPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The worker's HTTP endpoint: Prometheus /metrics and /healthz.
        .target(
            name: "EncoursMetricsServer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Receivables rules and CSV parsing: pure Swift, no database (money, dates, import rows).
        // Its byte-level CSV reader replaces CSV.swift, measured too slow and lossy (see README).
        .target(name: "EncoursLedger"),
        // The ledger in PostgreSQL: tenant-scoped transactions (row-level security), CSV import,
        // promises, disputes and reports.
        .target(
            name: "EncoursLedgerStore",
            dependencies: ["EncoursLedger", "EncoursPostgres"]
        ),
        // What the admin CLI does: tenants, enqueue, stats, checks, job inspection.
        .target(
            name: "EncoursAdmin",
            dependencies: [
                "EncoursPostgres", "EncoursQueue", "EncoursMigrations", "EncoursLedger", "EncoursLedgerStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "EncoursCLI",
            dependencies: [
                "EncoursAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "EncoursWorkerCLI",
            dependencies: [
                "EncoursQueue",
                "EncoursAdmin",
                "EncoursMetricsServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Benchmark driver (see scripts/bench and BENCHMARKS.md); build with -c release.
        .executableTarget(
            name: "EncoursBench",
            dependencies: [
                "EncoursQueue", "EncoursAdmin", "EncoursPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/EncoursBench"
        ),
        // Test helpers: a fresh migrated database per test, running the built binaries.
        .target(
            name: "EncoursTestSupport",
            dependencies: ["EncoursPostgres", "EncoursMigrations"]
        ),
        .testTarget(name: "EncoursPostgresTests", dependencies: ["EncoursPostgres", "EncoursTestSupport"]),
        .testTarget(name: "EncoursLedgerTests", dependencies: ["EncoursLedger"]),
        .testTarget(
            name: "EncoursQueueTests",
            dependencies: [
                "EncoursQueue", "EncoursAdmin", "EncoursMigrations", "EncoursPostgres", "EncoursTestSupport",
                "EncoursMetricsServer", "EncoursLedger", "EncoursLedgerStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
