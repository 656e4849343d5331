package dev.tessera.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.worker.Control;
import java.util.List;
import org.junit.jupiter.api.Test;

class LaunchDriverTest {
  private static Control.Ready ready(int rank, String device) {
    return new Control.Ready(rank, 1000 + rank, device, 10, 0, 0, new double[0]);
  }

  @Test
  void workersSharingAGpuAreWarnedAboutNamingTheirRanks() {
    String h200 = "OpenCL GPU: NVIDIA H200 (NVIDIA CUDA, OpenCL 3.0 CUDA 13.0)";
    List<String> w = LaunchDriver.sharedGpus(new Control.Ready[] {ready(0, h200), ready(1, h200), ready(2, h200)});
    assertEquals(1, w.size(), w.toString());
    assertTrue(w.get(0).startsWith("ranks 0, 1, 2 share one GPU (" + h200 + "): 3 workers take turns"), w.get(0));
  }

  @Test
  void aGpuEachOrCpuDevicesGetNoWarning() {
    assertEquals(List.of(), LaunchDriver.sharedGpus(new Control.Ready[] {
        ready(0, "OpenCL GPU 0 of 2: NVIDIA H200 (NVIDIA CUDA)"), ready(1, "OpenCL GPU 1 of 2: NVIDIA H200 (NVIDIA CUDA)")}));
    String pocl = "OpenCL CPU: cpu-haswell-AMD EPYC (Portable Computing Language, OpenCL 3.0 PoCL 5.0)";
    assertEquals(List.of(), LaunchDriver.sharedGpus(new Control.Ready[] {ready(0, pocl), ready(1, pocl)}));
  }

  @Test
  void onlyTheSharedGpuOfSeveralIsNamed() {
    String g0 = "OpenCL GPU 0 of 2: NVIDIA H200 (NVIDIA CUDA)";
    String g1 = "OpenCL GPU 1 of 2: NVIDIA H200 (NVIDIA CUDA)";
    List<String> w = LaunchDriver.sharedGpus(new Control.Ready[] {ready(0, g0), ready(1, g1), ready(2, g0)});
    assertEquals(1, w.size(), w.toString());
    assertTrue(w.get(0).startsWith("ranks 0, 2 share one GPU (" + g0 + ")"), w.get(0));
  }
}
