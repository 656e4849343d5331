package dev.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tessera.model.data.ShardSource;
import dev.tessera.worker.Checkpoints;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real spark-submit of the built target/tessera-spark.jar (jobs module) to a Spark standalone master
 * and worker that this test starts on loopback, from the Spark jars Maven laid out in
 * target/spark-home: the job shards a text corpus and trains dp2 on it in a barrier stage of two tasks
 * on one executor, and leaves a checkpoint and a report. The worker offers two GPUs to Spark's resource
 * scheduling, as addresses 2 and 3 of a host whose OpenCL shows four devices (pocl made to show four
 * CPU devices stands in for them), one to a task: each rank opens the device Spark gave it, not the
 * rank's own number.
 */
class SparkSubmitTest {
  private static final Path SPARK_HOME = Path.of("target", "spark-home").toAbsolutePath();
  private static final Path JAR = LauncherTest.ROOT.resolve("jobs/target/tessera-spark.jar");
  /** What a JVM running Tessera needs on JDK 17 (bin/jvm-options, less the logging bridge Spark lacks). */
  private static final String OPENS = "--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED "
      + "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-exports=java.base/jdk.internal.ref=ALL-UNNAMED";

  @TempDir
  Path tmp;

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private Process java(List<String> args, Path log) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx1g"));
    cmd.addAll(List.of(OPENS.split(" ")));
    cmd.addAll(List.of("-cp", SPARK_HOME.resolve("jars") + "/*"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("SPARK_HOME", SPARK_HOME.toString());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.environment().put("SPARK_SCALA_VERSION", "2.13"); // a Spark home laid out by Maven, not a build
    return pb.start();
  }

  private static void awaitLine(Path log, String text, int seconds, Process p) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      if (Files.exists(log) && Files.readString(log).contains(text)) {
        return;
      }
      if (!p.isAlive()) {
        fail(log + " ended before '" + text + "':\n" + Files.readString(log));
      }
      Thread.sleep(100);
    }
    fail("no '" + text + "' in " + log + " within " + seconds + " s:\n" + Files.readString(log));
  }

  @Test
  void sparkSubmitToAStandaloneClusterShardsAndTrainsDp2() throws Exception {
    LauncherTest.requireOpenClCpu();
    assertTrue(Files.isRegularFile(JAR), JAR + " is not built (mvn package -pl jobs)");
    Path corpus = tmp.resolve("corpus");
    Files.createDirectories(corpus);
    for (int i = 0; i < 3; i++) {
      Files.writeString(corpus.resolve("scene" + i + ".txt"), ("SCENE " + i + ". OPHELIA: There's rosemary, that's "
          + "for remembrance; pray you, love, remember.\n").repeat(25), StandardCharsets.UTF_8);
    }
    int port = freePort();
    String master = "spark://127.0.0.1:" + port;
    List<Process> cluster = new ArrayList<>();
    try {
      Path masterLog = tmp.resolve("master.log");
      cluster.add(java(List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
          Integer.toString(port), "--webui-port", Integer.toString(freePort())), masterLog));
      awaitLine(masterLog, "I have been elected leader", 120, cluster.get(0));
      Path workerLog = tmp.resolve("worker.log");
      Path gpus = tmp.resolve("gpus.sh");
      Files.writeString(gpus, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"2\", \"3\"]}'\n");
      assertTrue(gpus.toFile().setExecutable(true));
      Path workerConf = tmp.resolve("worker.conf");
      Files.writeString(workerConf, "spark.worker.resource.gpu.amount 2\nspark.worker.resource.gpu.discoveryScript "
          + gpus + "\n");
      cluster.add(java(List.of("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores",
          "2", "--memory", "3g", "--webui-port", Integer.toString(freePort()), "--work-dir",
          tmp.resolve("work").toString(), "--properties-file", workerConf.toString(), master), workerLog));
      awaitLine(workerLog, "Successfully registered with master", 120, cluster.get(1));

      Path run = tmp.resolve("run");
      Path submitLog = tmp.resolve("submit.log");
      Process submit = java(List.of("org.apache.spark.deploy.SparkSubmit", "--master", master,
          "--deploy-mode", "client", "--class", "dev.tessera.jobs.SparkMain",
          "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1",
          "--conf", "spark.executor.cores=2", "--conf", "spark.executor.memory=2g",
          "--conf", "spark.executor.extraJavaOptions=" + OPENS,
          "--conf", "spark.executor.resource.gpu.amount=2", "--conf", "spark.task.resource.gpu.amount=1",
          "--conf", "spark.executorEnv.POCL_DEVICES=pthread pthread pthread pthread", JAR.toString(),
          "train", "--input", corpus.toString(), "--shards", "2", "--out", run.toString(), "--dp", "2",
          "--steps", "6", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32",
          "--batch-size", "8", "--eval-every", "3", "--eval-batches", "2", "--checkpoint-every", "3",
          "--device", "cpu"), submitLog);
      if (!submit.waitFor(300, TimeUnit.SECONDS)) {
        submit.destroyForcibly();
        fail("spark-submit did not finish within 300 s:\n" + tail(submitLog) + executorLogs());
      }
      assertEquals(0, submit.exitValue(), tail(submitLog) + executorLogs());
      // The files, not the console: Spark's log lines on stderr interleave with the job's own on stdout.
      String shards = ShardSource.load(Path.of(run + "-shards"), 32).describe();
      assertTrue(shards.contains("2 token shards") && shards.contains("of 3 documents"), shards);
      Checkpoints.Checkpoint ck = Checkpoints.verify(run.resolve("checkpoints").resolve("step-6"));
      assertEquals(2, ck.manifest().mesh().get("dp"));
      assertTrue(Files.readString(run.resolve("report.md")).contains("## Cluster"));
      String log = Files.readString(run.resolve("train.log"));
      for (String device : new String[] {"OpenCL CPU 2 of 4: ", "OpenCL CPU 3 of 4: "}) {
        assertTrue(log.contains(device), "a rank opened " + device + "(Spark's gpu address):\n" + log);
      }
      assertTrue(!log.contains("OpenCL CPU 0 of 4") && !log.contains("OpenCL CPU 1 of 4"), log);
    } finally {
      for (Process p : cluster) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
      }
    }
  }

  private static String tail(Path log) throws IOException {
    String s = Files.readString(log);
    return s.substring(Math.max(0, s.length() - 6000));
  }

  private String executorLogs() throws IOException {
    Path work = tmp.resolve("work");
    if (!Files.isDirectory(work)) {
      return "";
    }
    StringBuilder b = new StringBuilder("\nexecutor logs:\n");
    try (Stream<Path> s = Files.walk(work)) {
      for (Path p : s.filter(f -> f.getFileName().toString().equals("stderr")).toList()) {
        b.append(p).append(":\n").append(tail(p)).append('\n');
      }
    }
    return b.toString();
  }
}
