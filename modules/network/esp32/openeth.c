/*
 * Ethernet through QEMU's OpenCores MAC (`-nic user,model=open_eth`) for the
 * emulated ESP32-C3: ESP-IDF's esp_eth driver for that MAC, a generic PHY, and an
 * esp_netif with its DHCP client. Moddable 8.2.3 has no set-up for this MAC; the
 * `qemu` board (sdkconfig/qemu/manifest.json) builds this file, real boards never do.
 *
 * The driver's events (link up/down, address got/lost) arrive on ESP-IDF's event
 * task; each is posted to the XS machine's own task (modMessagePostToMachine) and
 * handed to the one callback given to start(): JavaScript never runs elsewhere.
 * Needs CONFIG_ETH_USE_OPENETH=y and the esp_eth/esp_netif components (the board's
 * manifest adds both).
 */
#include "xsmc.h"
#include "xsHost.h"

#include <stdio.h>
#include <string.h>
#include "esp_event.h"
#include "esp_eth.h"
#include "esp_eth_mac_openeth.h"
#include "esp_eth_phy.h"
#include "esp_netif.h"

enum {
	kLinkDown = 0,
	kLinkUp = 1,
	kAddressGot = 2,
	kAddressLost = 3,
};

typedef struct {
	uint8_t event;
	char address[16];
} EthernetMessageRecord;

static xsMachine *gMachine;
static xsSlot gCallback;
static esp_netif_t *gNetif;

static void deliver(void *the, void *refcon, uint8_t *message, uint16_t messageLength)
{
	static const char *const names[] = { "down", "up", "address", "lost" };
	EthernetMessageRecord *record = (EthernetMessageRecord *)message;

	xsBeginHost(the);
		xsmcVars(2);
		xsmcSetString(xsVar(0), (char *)names[record->event]);
		if (record->address[0])
			xsmcSetString(xsVar(1), record->address);
		xsCallFunction2(gCallback, xsGlobal, xsVar(0), xsVar(1));
	xsEndHost(the);
}

static void post(uint8_t event, const char *address)
{
	EthernetMessageRecord record = { .event = event };
	if (address)
		strncpy(record.address, address, sizeof(record.address) - 1);
	modMessagePostToMachine(gMachine, (uint8_t *)&record, sizeof(record), deliver, NULL);
}

static void onEthernetEvent(void *arg, esp_event_base_t base, int32_t id, void *data)
{
	if (ETHERNET_EVENT_CONNECTED == id)
		post(kLinkUp, NULL);
	else if (ETHERNET_EVENT_DISCONNECTED == id)
		post(kLinkDown, NULL);
}

static void onAddressEvent(void *arg, esp_event_base_t base, int32_t id, void *data)
{
	char address[16];
	if (IP_EVENT_ETH_GOT_IP == id) {
		ip_event_got_ip_t *event = (ip_event_got_ip_t *)data;
		snprintf(address, sizeof(address), IPSTR, IP2STR(&event->ip_info.ip));
		post(kAddressGot, address);
	}
	else if (IP_EVENT_ETH_LOST_IP == id)
		post(kAddressLost, NULL);
}

/* start(callback): brings the interface up once; callback(event, address) follows its state */
void xs_openeth_start(xsMachine *the)
{
	esp_err_t err;
	esp_eth_handle_t handle = NULL;

	if (gNetif)
		xsUnknownError("already started");
	if (!xsmcIsInstanceOf(xsArg(0), xsFunctionPrototype))
		xsTypeError("callback must be a function");

	err = esp_netif_init();
	if (ESP_OK == err) {
		err = esp_event_loop_create_default();
		if (ESP_ERR_INVALID_STATE == err)		// the SDK may have made it already
			err = ESP_OK;
	}
	if (ESP_OK != err)
		xsUnknownError("event loop: %s", esp_err_to_name(err));

	esp_netif_config_t netifConfig = ESP_NETIF_DEFAULT_ETH();
	esp_netif_t *netif = esp_netif_new(&netifConfig);
	eth_mac_config_t macConfig = ETH_MAC_DEFAULT_CONFIG();
	eth_phy_config_t phyConfig = ETH_PHY_DEFAULT_CONFIG();
	phyConfig.autonego_timeout_ms = 100;		// QEMU's PHY has the link at once
	esp_eth_mac_t *mac = esp_eth_mac_new_openeth(&macConfig);
	esp_eth_phy_t *phy = esp_eth_phy_new_generic(&phyConfig);
	esp_eth_config_t ethConfig = ETH_DEFAULT_CONFIG(mac, phy);
	if (!netif || !mac || !phy)
		xsUnknownError("no memory for the Ethernet driver");
	err = esp_eth_driver_install(&ethConfig, &handle);
	if (ESP_OK == err)
		err = esp_netif_attach(netif, esp_eth_new_netif_glue(handle));
	if (ESP_OK == err)
		err = esp_event_handler_register(ETH_EVENT, ESP_EVENT_ANY_ID, onEthernetEvent, NULL);
	if (ESP_OK == err)
		err = esp_event_handler_register(IP_EVENT, ESP_EVENT_ANY_ID, onAddressEvent, NULL);
	if (ESP_OK != err)
		xsUnknownError("Ethernet driver: %s", esp_err_to_name(err));

	gMachine = the;
	gCallback = xsArg(0);
	xsRemember(gCallback);
	gNetif = netif;

	err = esp_eth_start(handle);
	if (ESP_OK != err)
		xsUnknownError("Ethernet start: %s", esp_err_to_name(err));
}
