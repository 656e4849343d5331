package dev.tessera.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bench/run NAME [options]}: one subcommand per benchmark; each ends with a BENCH line. */
@Command(name = "bench/run", mixinStandardHelpOptions = true,
    description = "Tessera benchmarks. Each prints one final line 'BENCH <name> key=value ...' and writes the "
        + "same to target/bench/<name>.json.",
    subcommands = {KernelsBench.class, ShakespeareCharBench.class, GpuBench.class, CodecsBench.class, AllReduceBench.class,
        ParallelCoreBench.class, ClusterBench.class, SparkBench.class, MultiGpuBench.class})
public final class BenchMain implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new BenchMain()).execute(args));
  }
}
