package dev.tessera.kernels.opencl;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.DeviceUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a launch that failed, or ran where it should not, tells the user: the op, the device, and what to do. */
final class LaunchFailures {
  private LaunchFailures() {
  }

  /** A launch Aparapi reported failed (with a device-bound range it does so instead of falling back). */
  static DeviceUnavailableException failed(int op, OpenCLDevice device, Throwable e) {
    return new DeviceUnavailableException("op " + op + " failed to run on OpenCL device '" + device.getName().trim()
        + "' (" + e.getMessage() + "); " + mpsNote(device.getOpenCLPlatform().getName(),
        System.getenv("CUDA_MPS_PIPE_DIRECTORY"), Path.of("/tmp/nvidia-mps"))
        + "run with -Dcom.aparapi.enableShowGeneratedOpenCL=true and check the log", e);
  }

  /** A launch Aparapi ran on another device than the backend's (its silent fallback). */
  static DeviceUnavailableException ranElsewhere(int op, Device ran, OpenCLDevice device) {
    return new DeviceUnavailableException("Aparapi ran op " + op + " on " + ran + " instead of OpenCL device '"
        + device.getName().trim() + "' (it falls back silently when a kernel fails to build or launch); "
        + "run with -Dcom.aparapi.enableShowGeneratedOpenCL=true and check the log for the cause");
  }

  /**
   * A note for a failed launch on NVIDIA's platform while NVIDIA's Multi-Process Service runs (its
   * control socket in {@code pipeDir}, else in {@code defaultPipeDir}): under MPS clCreateContextFromType
   * failed (-9999) on an H200, driver 580, and the kernel with it ("initJNI failed to return a valid
   * handle"; MPS serves CUDA, not OpenCL). Empty otherwise.
   */
  static String mpsNote(String platform, String pipeDir, Path defaultPipeDir) {
    Path dir = pipeDir == null || pipeDir.isBlank() ? defaultPipeDir : Path.of(pipeDir);
    if (platform == null || !platform.contains("NVIDIA") || !Files.exists(dir.resolve("control"))) {
      return "";
    }
    return "NVIDIA's MPS is running (" + dir.resolve("control") + "), and Tessera's OpenCL kernels do not run under "
        + "it: stop it (echo quit | nvidia-cuda-mps-control)" + (dir.equals(defaultPipeDir) ? ""
        : " or run without CUDA_MPS_PIPE_DIRECTORY") + "; else ";
  }
}
