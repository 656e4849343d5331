package dev.tessera.coordinator.run;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** loss.png: training and validation loss against steps, with the data's baselines when known. */
final class LossPlot {
  private LossPlot() {
  }

  static void write(Path file, List<Metrics.Row> rows, double[] baselines) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(900).height(520).title("Loss").xAxisTitle("step")
        .yAxisTitle("loss (nats/token)").build();
    List<Integer> steps = new ArrayList<>();
    List<Double> train = new ArrayList<>();
    List<Integer> valSteps = new ArrayList<>();
    List<Double> val = new ArrayList<>();
    for (Metrics.Row r : rows) {
      steps.add(r.step());
      train.add(r.trainLoss());
      if (!Double.isNaN(r.valLoss())) {
        valSteps.add(r.step());
        val.add(r.valLoss());
      }
    }
    if (steps.isEmpty()) {
      return;
    }
    chart.addSeries("train", steps, train).setMarker(SeriesMarkers.NONE);
    if (!val.isEmpty()) {
      chart.addSeries("validation", valSteps, val).setMarker(SeriesMarkers.CIRCLE);
    }
    if (baselines != null) {
      String[] names = {"Bayes optimum", "in-context unigram", "context-free ln(A)"};
      for (int i = 0; i < names.length; i++) {
        XYSeries s = chart.addSeries(names[i], List.of(steps.get(0), steps.get(steps.size() - 1)),
            List.of(baselines[i], baselines[i]));
        s.setMarker(SeriesMarkers.NONE);
      }
    }
    // Drawn in memory first: a machine that cannot draw (no fonts) must not be left with an empty loss.png.
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    BitmapEncoder.saveBitmap(chart, png, BitmapEncoder.BitmapFormat.PNG);
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.write(tmp, png.toByteArray());
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
