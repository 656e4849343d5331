package dev.tessera.jobs;

import dev.tessera.coordinator.run.Launcher;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.IntStream;
import org.apache.spark.JobExecutionStatus;
import org.apache.spark.SparkJobInfo;
import org.apache.spark.api.java.JavaSparkContext;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * A launch's workers as the tasks of a Spark barrier stage, one task per rank ({@link BarrierWorker}),
 * gang-scheduled by Spark: each attempt is a job of its own, cancelled when the coordinator gives the
 * attempt up, so Spark's own retry of a failed stage never races the coordinator's next attempt.
 */
final class SparkLauncher implements Launcher {
  private final JavaSparkContext sc;

  SparkLauncher(JavaSparkContext sc) {
    this.sc = sc;
  }

  @Override
  public Workers start(Attempt a) {
    String group = a.cluster();
    BarrierWorker task = new BarrierWorker(a.cluster(), a.secret(), a.coordinator(), a.workers(),
        a.options().heartbeat().toSeconds(), a.options().joinTimeout().toSeconds(), a.fault());
    ClassTag<Integer> tag = ClassTag$.MODULE$.apply(Integer.class);
    CompletableFuture<Void> job = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        sc.setJobGroup(group, "tessera: " + a.workers() + " workers, attempt " + a.number(), true);
        sc.parallelize(IntStream.range(0, a.workers()).boxed().toList(), a.workers()).rdd().barrier()
            .mapPartitions(task, false, tag).collect();
        job.complete(null);
      } catch (Throwable e) { // SparkException is checked, thrown undeclared from Scala
        job.completeExceptionally(e);
      }
    }, "tessera-barrier-" + a.number());
    t.setDaemon(true);
    t.start();
    return new BarrierTasks(sc, group, job);
  }

  /** The tasks of one barrier job: the job's end (or failure) is all the driver sees of them. */
  private static final class BarrierTasks implements Workers {
    private final JavaSparkContext sc;
    private final String group;
    private final CompletableFuture<Void> job;

    BarrierTasks(JavaSparkContext sc, String group, CompletableFuture<Void> job) {
      this.sc = sc;
      this.group = group;
      this.job = job;
    }

    @Override
    public List<Long> pids() {
      return List.of();
    }

    @Override
    public Optional<String> firstExit() {
      // Spark marks the job failed as soon as a barrier task fails, before the other tasks have ended.
      for (int id : sc.statusTracker().getJobIdsForGroup(group)) {
        SparkJobInfo info = sc.statusTracker().getJobInfo(id);
        if (info != null && info.status() == JobExecutionStatus.FAILED) {
          return Optional.of("a task of the Spark barrier job " + group + " failed (its stage was aborted; the "
              + "executors' logs say why)");
        }
      }
      if (!job.isCompletedExceptionally()) {
        return Optional.empty();
      }
      try {
        job.join();
        return Optional.empty();
      } catch (RuntimeException e) {
        Throwable c = e.getCause() != null ? e.getCause() : e;
        return Optional.of("the Spark barrier job " + group + " failed: " + c.getMessage());
      }
    }

    @Override
    public Optional<String> firstSignalled(Duration wait) {
      return Optional.empty(); // a task's death is known only as the stage's failure, or by the heartbeats
    }

    @Override
    public boolean alive(int r) {
      return !job.isDone();
    }

    @Override
    public boolean awaitExit(long seconds) {
      try {
        job.get(seconds, TimeUnit.SECONDS);
        return true;
      } catch (ExecutionException e) {
        return true;
      } catch (TimeoutException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }

    @Override
    public String tail(int r, int lines) {
      return "(the workers' logs are the Spark executors' logs)";
    }

    @Override
    public void close() {
      if (!job.isDone()) {
        sc.cancelJobGroup(group);
        awaitExit(60);
      }
    }
  }
}
