import ArgumentParser
import CPUFeatures
import Mining
import MiningKernels

extension KernelName: ExpressibleByArgument {}
extension WorkerPriority: ExpressibleByArgument {}

/// `--kernel NAME|auto|all`, shared by the commands that hash.
struct KernelSelection: ExpressibleByArgument, Sendable {
    enum Choice: Sendable { case auto, all, named(KernelName), list([KernelName]) }
    let choice: Choice

    init?(argument: String) {
        switch argument {
        case "auto": choice = .auto
        case "all": choice = .all
        default:
            if let name = KernelName(rawValue: argument) {
                choice = .named(name)
                return
            }
            // "simd16,hybrid16+2,shani2": several kernels side by side (the bench interleaves their runs).
            let names = argument.split(separator: ",", omittingEmptySubsequences: false).map {
                KernelName(rawValue: String($0))
            }
            guard names.count > 1, names.allSatisfy({ $0 != nil }) else { return nil }
            choice = .list(names.map { $0! })
        }
    }

    static var allValueStrings: [String] { ["auto", "all"] + KernelName.allCases.map(\.rawValue) }
    var defaultValueDescription: String { "auto" }

    /// The kernels this selection means on this CPU.
    /// - Throws: `ValidationError` naming the kernel and the missing CPU features.
    func kernels(includeVariants: Bool) throws -> [Kernel] {
        switch choice {
        case .auto: return [Kernel.best]
        case .all: return Kernel.available(includeVariants: includeVariants)
        case .named(let name):
            do { return [try Kernel.named(name)] } catch { throw ValidationError("--kernel: \(error.message)") }
        case .list(let names):
            var kernels: [Kernel] = []
            for name in names {
                do { kernels.append(try Kernel.named(name)) } catch {
                    throw ValidationError("--kernel: \(error.message)")
                }
            }
            return kernels
        }
    }
}
