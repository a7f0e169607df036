// Battery fuel gauges (Android phones, laptops) through /sys/class/power_supply. Gauges update
// slowly (often once a second or less); the sampler measures that period and the protocol
// makes windows span many updates.
#include <algorithm>
#include <cerrno>

#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kSupply = "/sys/class/power_supply";

bool charger_state(const std::string& status) {
  return status == "Charging" || status == "Full" || status == "Not charging";
}

class BatteryMeter : public Meter {
 public:
  BatteryMeter(std::shared_ptr<const SysFs> fs, std::string supply, bool power_now, double sign,
               bool allow_charging, std::vector<std::string> chargers)
      : fs_(std::move(fs)),
        supply_(std::move(supply)),
        sign_(sign),
        allow_charging_(allow_charging),
        chargers_(std::move(chargers)) {
    const std::string dir = join(kSupply, supply_);
    if (power_now) {
      a_ = fs_->open(join(dir, "power_now"));
    } else {
      a_ = fs_->open(join(dir, "current_now"));
      b_ = fs_->open(join(dir, "voltage_now"));
    }
    if (fs_->exists(join(dir, "status"))) status_ = fs_->open(join(dir, "status"));
    for (const auto& c : chargers_) online_.push_back(fs_->open(join(join(kSupply, c), "online")));
    domains_.push_back(
        {supply_, Signal::kPower, 0, true, power_now ? "power_now" : "voltage_now x current_now"});
  }
  std::string kind() const override { return "battery"; }
  void read(double, std::span<double> out) override {
    if (!allow_charging_) {
      // A charger plugged in mid-run makes the gauge see the charger, not the device.
      if (status_) {
        const std::string st = trim(status_->read());
        if (charger_state(st))
          fail("battery {}: status became '{}' during the measurement (charger connected)", supply_,
               st);
      }
      for (size_t i = 0; i < online_.size(); ++i)
        if (online_[i]->read_int() == 1)
          fail("battery {}: charger {} came online during the measurement", supply_, chargers_[i]);
    }
    if (b_) {
      // uV x uA = pW; 1e-9 of that is mW.
      out[0] =
          sign_ * static_cast<double>(a_->read_int()) * static_cast<double>(b_->read_int()) * 1e-9;
    } else {
      out[0] = static_cast<double>(a_->read_int()) * 1e-3;  // uW -> mW
    }
  }

 private:
  std::shared_ptr<const SysFs> fs_;
  std::string supply_;
  double sign_;
  bool allow_charging_;
  std::vector<std::string> chargers_;
  std::unique_ptr<Attr> a_, b_, status_;
  std::vector<std::unique_ptr<Attr>> online_;
};

}  // namespace

std::vector<Finding> find_battery(std::shared_ptr<const SysFs> fs, const BatteryConfig& config) {
  Finding f;
  f.kind = f.name = "battery";
  if (!fs->is_dir(kSupply)) {
    f.reason = fmt::format("{}: not present", fs->show(kSupply));
    return {f};
  }
  std::vector<std::string> batteries, chargers;
  for (const auto& s : fs->list(kSupply)) {
    const std::string type = fs->read_trimmed(join(join(kSupply, s), "type")).value_or("");
    if (type == "Battery")
      batteries.push_back(s);
    else if (fs->exists(join(join(kSupply, s), "online")))
      chargers.push_back(s);
  }
  if (batteries.empty()) {
    f.reason = fmt::format("no battery in {}", fs->show(kSupply));
    return {f};
  }
  std::string supply = batteries.front();
  if (!config.supply.empty()) {
    if (std::find(batteries.begin(), batteries.end(), config.supply) == batteries.end()) {
      f.reason = fmt::format("battery '{}' (battery.supply) is not in {}", config.supply,
                             fs->show(kSupply));
      return {f};
    }
    supply = config.supply;
  }
  const std::string dir = join(kSupply, supply);
  auto refuse = [&](std::string why) {
    f.status = Finding::Status::kRefused;
    f.reason = std::move(why);
    return std::vector<Finding>{f};
  };
  const bool vi = fs->exists(join(dir, "current_now")) && fs->exists(join(dir, "voltage_now"));
  const bool pw = !vi && fs->exists(join(dir, "power_now"));
  if (!vi && !pw)
    return refuse(
        fmt::format("{}: neither current_now + voltage_now nor power_now", fs->show(dir)));
  for (const std::string& file : vi ? std::vector<std::string>{"current_now", "voltage_now"}
                                    : std::vector<std::string>{"power_now"}) {
    if (auto why = fs->int_problem(join(dir, file)); !why.empty()) return refuse(why);
  }
  const std::string status = fs->read_trimmed(join(dir, "status")).value_or("Unknown");
  std::vector<std::string> online;
  for (const auto& c : chargers) {
    const std::string rel = join(join(kSupply, c), "online");
    int err = 0;
    const auto v = fs->try_read_int(rel, &err);
    // Unreadable is not online; garbage is refused, as the meter re-reads it while measuring.
    if (!v && err == EINVAL) return refuse(fs->int_problem(rel));
    if (v.value_or(0) == 1) online.push_back(c);
  }
  const bool charging = charger_state(status) || !online.empty();
  if (charging && !config.allow_charging) {
    return refuse(fmt::format(
        "battery {}: status '{}'{}: on a charger the gauge measures the charger, not the device; "
        "unplug it, or allow it (--allow-charging / battery.allow_charging)",
        supply, status, online.empty() ? "" : ", charger " + online.front() + " online"));
  }
  double sign = 1;
  std::string convention;
  if (vi) {
    if (config.sign == CurrentSign::kPositiveDischarge) {
      convention = "positive while discharging (device file)";
    } else if (config.sign == CurrentSign::kNegativeDischarge) {
      sign = -1;
      convention = "negative while discharging (device file)";
    } else {
      const int64_t current = fs->read_int(join(dir, "current_now"));
      if (status != "Discharging" || current == 0)
        return refuse(fmt::format(
            "battery {}: cannot tell the current's sign convention (status '{}', current_now {} "
            "uA); set battery.sign in the device file",
            supply, status, current));
      sign = current < 0 ? -1 : 1;
      convention = current < 0 ? "negative while discharging (detected)"
                               : "positive while discharging (detected)";
    }
  }
  f.status = Finding::Status::kFound;
  f.name = "battery";
  f.reason = fmt::format("{} ({}){}", fs->show(dir), vi ? "current_now x voltage_now" : "power_now",
                         convention.empty() ? "" : "; current sign " + convention);
  // While charging is allowed the chargers are not watched.
  f.meter =
      std::make_shared<BatteryMeter>(fs, supply, pw, sign, config.allow_charging,
                                     config.allow_charging ? std::vector<std::string>{} : chargers);
  return {f};
}

}  // namespace nnjoule::meter
