// @ts-check
// Every screen by its route.

import { bokScreen } from "./bok.js";
import { homeScreen } from "./home.js";
import { linkScreen } from "./link.js";
import { loginScreen } from "./login.js";
import { notificationsScreen } from "./notifications.js";
import { onboardScreen } from "./onboard.js";
import { otpAddScreen } from "./otp-add.js";
import { pairScreen } from "./pair.js";
import { pinScreen } from "./pin.js";
import { scanScreen } from "./scan.js";
import { settingsScreen } from "./settings.js";

/** @type {Record<import("../lib/router.js").Route, (app: import("../lib/app.js").App) => import("../lib/app.js").Screen>} */
export const SCREENS = {
  pin: pinScreen,
  home: homeScreen,
  scan: scanScreen,
  pair: pairScreen,
  link: linkScreen,
  onboard: onboardScreen,
  login: loginScreen,
  bok: bokScreen,
  notifications: notificationsScreen,
  settings: settingsScreen,
  "otp-add": otpAddScreen,
};
