/*
 * `update/boot` on the device: ESP-IDF's app rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE,
 * sdkconfig/sdkconfig.defaults). The bootloader starts an update in the state
 * PENDING_VERIFY; unless the app confirms it (markValid) before the next reset, the
 * bootloader marks it ABORTED and starts the image before it. rollBack() marks the
 * running update INVALID and restarts into the previous image at once.
 *
 *   bootInfo() -> { slot: "ota_0", state: "valid" | "pending-verify", rolledBack, settings: {} }
 *   markValid(), rollBack(), restart()
 *
 * Same API as the simulator's stand-in (lin/boot.ts). A device image's settings are
 * its own mc/config: `settings` is empty here.
 */
#include "xsmc.h"
#include "esp_system.h"
#include "app_update/include/esp_ota_ops.h"

void xs_update_boot_info(xsMachine* the)
{
	const esp_partition_t* running = esp_ota_get_running_partition();
	esp_ota_img_states_t state = ESP_OTA_IMG_UNDEFINED;
	const char* label = running ? running->label : "unknown";
	int pending = running && (ESP_OK == esp_ota_get_state_partition(running, &state)) && (ESP_OTA_IMG_PENDING_VERIFY == state);

	/* [slot, pending, rolledBack]: boot.js makes the object */
	xsmcVars(1);
	xsmcSetNewArray(xsResult, 3);
	xsmcSetString(xsVar(0), (char*)label);
	xsmcSetIndex(xsResult, 0, xsVar(0));
	xsmcSetBoolean(xsVar(0), pending);
	xsmcSetIndex(xsResult, 1, xsVar(0));
	xsmcSetBoolean(xsVar(0), NULL != esp_ota_get_last_invalid_partition());
	xsmcSetIndex(xsResult, 2, xsVar(0));
}

void xs_update_boot_mark_valid(xsMachine* the)
{
	esp_err_t err = esp_ota_mark_app_valid_cancel_rollback();
	if (ESP_OK != err)
		xsUnknownError("mark valid failed: %d", err);
}

void xs_update_boot_roll_back(xsMachine* the)
{
	esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();		/* returns only on failure */
	xsUnknownError("roll back failed: %d", err);
}

void xs_update_boot_restart(xsMachine* the)
{
	esp_restart();
}
